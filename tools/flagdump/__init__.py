"""The flag-snapshot tool: dump a released engine's real argument parser, and the facts
around it, to ``compiler/aim_engine/catalogue/data/flags/<engine>-<version>.json``.

See README.md in this directory. Module map:

* ``__main__``      command line (``python -m tools.flagdump vllm 0.33.0``)
* ``outer``         throw-away venv, pip installs, launching the inner run
* ``engines``       per-engine install data (light deps, fake modules, env)
* ``fakes``         fake heavy modules (the meta-path finder), simulated ROCm device
* ``inner``         inner run: builds the parser, runs the captures, writes JSON
* ``serialise``     argparse parser -> ``options`` (+ special values, number suffixes)
* ``helptext``      help summaries and deprecation sentences
* ``annotations``   config-class annotations: Literals, nested key trees
* ``sourcescan``    ast scans of the installed source (env reads, deprecation messages)
* ``gates``         three-valued evaluation of hardware gates in the source
* ``captures``      engine-neutral captures (start-up deprecations, ad-hoc env reads)
* ``vllm_engine``   vLLM: parser builder and its captures
* ``sglang_engine`` SGLang: parser builder and its captures

Everything here imports only the standard library at module level: the inner run
executes the package with the venv's interpreter, before the engine is imported.
"""
