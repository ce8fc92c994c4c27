// The command builder of a model page, and the copy buttons of every command.
//
// The page carries the builder's configuration in data-config (GPU types, precisions, engines,
// the default view, the reason sentences); the plans of one GPU type are in a script file next
// to the page (models/<slug>.plans/<GPU>.js), loaded when that GPU type is chosen, so the page
// works from any static host and from file://. Keys are the lookup files' own:
// <n>/<exact|auto>/<precision|auto>/<backend|auto>/<latency|throughput>. The selection lives in
// the URL query. Every value from data is written as text (textContent), never as HTML; the
// memory picture is SVG the site build made, its text escaped there. The serving options the
// model offers (reasoning, tool calling) are choices too: "as planned" shows the published
// command; "on" / "off" edit its lines with the engine's own flags and say what changed.
(function () {
  "use strict";
  var PLAN_FIELDS = ["gpu", "n", "mode", "precision", "engine", "objective"];

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function copyText(text, button) {
    function done(ok) {
      var label = button.getAttribute("data-label") || button.textContent;
      button.setAttribute("data-label", label);
      button.textContent = ok ? "Copied" : "Copy failed: select the text";
      setTimeout(function () { button.textContent = label; }, 1500);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
      return;
    }
    var area = el("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    done(ok);
  }

  // Any .aim-copy button copies its data-command: the exact one-line command, not the lines shown.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest(".aim-copy") : null;
    if (button) copyText(button.getAttribute("data-command") || "", button);
  });

  // A plan's command lines, from the data file's string table.
  function lines(data, plan) {
    return plan.lines.map(function (i) { return data.strings[i]; });
  }

  // The plan's command lines with the reader's serving choices applied: the lines of an option
  // turned off are dropped, those of one turned on appended (engine arguments come last).
  function servingLines(data, plan, choices) {
    var out = lines(data, plan), changes = [];
    plan.serving.forEach(function (o) {
      var want = choices[o.field];
      if (want === "off" && o.on) {
        out = out.filter(function (line) { return o.drop.indexOf(line.split(" ")[0].split("=")[0]) < 0; });
        changes.push(o.option + " turned off");
      } else if (want === "on" && !o.on) {
        out = out.concat(o.add);
        changes.push(o.option + " turned on (" + o.flags + ")");
      }
    });
    (choices.serving || []).forEach(function (field) {
      var offered = plan.serving.some(function (o) { return o.field === field.field; });
      if (choices[field.field] === "on" && !offered) {
        changes.push(field.label + " is not offered for this model with " + plan.engine + ": nothing added");
      }
    });
    return {lines: out, changes: changes};
  }

  function commandBlock(shown) {
    var box = el("div", "aim-command no-copy");
    var button = el("button", "md-button aim-copy", "Copy command");
    button.type = "button";
    button.title = "Copy the command as one line";
    button.setAttribute("data-command", shown.join(" "));
    var pre = el("pre");
    pre.appendChild(el("code", null, shown.join(" \\\n    ")));
    box.appendChild(button);
    box.appendChild(pre);
    return box;
  }

  function fileLinks(plan) {
    var p = el("p", "aim-files");
    p.appendChild(document.createTextNode("Files: "));
    var files = [["compose file", plan.compose], ["Kubernetes manifests", plan.k8s]];
    if (plan.node_scripts) {
      files = [["Kubernetes manifests", plan.k8s], ["leader script", plan.node_scripts.leader],
               ["worker script", plan.node_scripts.worker]];
    }
    files.filter(function (pair) { return pair[1]; }).forEach(function (pair, i) {
      if (i) p.appendChild(document.createTextNode(" · "));
      var href = "../artifacts/" + pair[1];
      var view = el("a", null, pair[0]);
      view.href = href;
      view.target = "_blank";
      view.rel = "noopener";
      var get = el("a", null, "download");
      get.href = href;
      get.setAttribute("download", pair[1].split("/").pop());
      p.appendChild(view);
      p.appendChild(document.createTextNode(" ("));
      p.appendChild(get);
      p.appendChild(document.createTextNode(")"));
    });
    return p;
  }

  function pathList(data, steps, config) {
    var list = el("ol", "aim-path");
    steps.forEach(function (step) {
      var c = data.candidates[step[0]];
      var verdict = config.verdicts[step[1]];
      var reason = verdict === "chosen" ? "chosen" : c.reason;
      var li = el("li");
      li.appendChild(el("span", "aim-step-label", c.label));
      li.appendChild(document.createTextNode(": "));
      li.appendChild(el("strong", null, verdict));
      li.appendChild(document.createTextNode(", "));
      li.appendChild(el("code", null, reason));
      li.appendChild(document.createTextNode(" " + (verdict === "chosen" ? "" : c.message)));
      if (config.reasons[reason]) li.appendChild(el("span", "aim-sentence", " " + config.reasons[reason]));
      list.appendChild(li);
    });
    return list;
  }

  // The path up to the chosen candidate (all of it when none was chosen).
  function walked(decision, config) {
    var out = [];
    for (var i = 0; i < decision.path.length; i++) {
      out.push(decision.path[i]);
      if (config.verdicts[decision.path[i][1]] === "chosen") break;
    }
    return out;
  }

  // Candidates of the path that run (each a published plan) besides the one shown.
  function alternatives(data, decision, shown) {
    return decision.path.filter(function (step) {
      var c = data.candidates[step[0]];
      return c.plan !== null && c.plan !== shown;
    });
  }

  function badge(word, kind) {
    return el("span", "aim-badge aim-" + (kind || word), word);
  }

  function renderPlan(box, data, decision, config, choices, shown, pick) {
    var plan = data.plans[shown], gpu = choices.gpu;
    var command = servingLines(data, plan, choices);
    if (shown !== decision.plan) {
      var note = el("p", "aim-alternative");
      note.appendChild(document.createTextNode("An alternative that also runs for this choice; the planner's choice is "));
      var back = el("a", null, data.plans[decision.plan].id);
      back.href = "#aim-builder";
      back.addEventListener("click", function (event) { event.preventDefault(); pick(null); });
      note.appendChild(back);
      note.appendChild(document.createTextNode("."));
      box.appendChild(note);
    }
    var head = el("p", "aim-plan-head");
    head.appendChild(el("code", "aim-plan-id", plan.id));
    head.appendChild(document.createTextNode(" "));
    head.appendChild(badge(config.status[plan.status] || plan.status, plan.status));
    if (plan.tight) head.appendChild(badge("tight"));
    head.appendChild(badge(plan.measured ? "measured" : "not measured", plan.measured ? "measured" : "unmeasured"));
    box.appendChild(head);
    var facts = [plan.engine, plan.precision, plan.gpus + " × " + gpu];
    facts.push("tensor parallel " + plan.tp + (plan.replicas > 1 ? ", " + plan.replicas + " replicas" : ""));
    facts.push("checkpoint " + plan.checkpoint);
    if (plan.recipe) facts.push("recipe " + plan.recipe + (plan.derived_from ? " (from " + plan.derived_from + ")" : ""));
    else facts.push("generic plan (no recipe)");
    box.appendChild(el("p", "aim-plan-facts", facts.join(" · ")));
    var warnings = plan.warnings.concat(decision.warnings.filter(function (w) { return plan.warnings.indexOf(w) < 0; }));
    if (warnings.length) {
      var ul = el("ul", "aim-warnings");
      warnings.forEach(function (w) { ul.appendChild(el("li", null, w)); });
      box.appendChild(ul);
    }
    if (plan.serving.length) {
      var serving = el("p", "aim-serving");
      serving.appendChild(document.createTextNode("Serving options of the published plan: "));
      plan.serving.forEach(function (o, i) {
        if (i) serving.appendChild(document.createTextNode("; "));
        serving.appendChild(el("strong", null, o.option + " " + (o.on ? "on" : "off")));
        serving.appendChild(document.createTextNode(o.on ? " (" + o.value + ")" : ", the model offers it: add "));
        if (!o.on) serving.appendChild(el("code", null, o.flags));
      });
      box.appendChild(serving);
    }
    if (command.changes.length) {
      var changed = el("p", "aim-serving-changed");
      changed.appendChild(el("strong", null, "Changed from the published plan: "));
      changed.appendChild(document.createTextNode(command.changes.join("; ") + ". The command below has the change; " +
        (plan.lines.length ? "the files are the published plan's." : "the host scripts and manifests do not.")));
      box.appendChild(changed);
    }
    if (plan.lines.length) box.appendChild(commandBlock(command.lines));
    else box.appendChild(el("p", "aim-multi-node", "This plan runs on " + plan.nodes + " hosts of " +
      (plan.gpus / plan.nodes) + " GPUs: start it with the leader and worker scripts (one per host) or the " +
      "Kubernetes manifests (a LeaderWorkerSet) below."));
    box.appendChild(fileLinks(plan));
    var picture = el("div", "aim-scroll");
    picture.innerHTML = plan.svg;  // built and escaped by the site build (publish/svg.py)
    box.appendChild(picture);
    box.appendChild(el("p", "aim-summary", plan.summary));
    var chosen = decision.path.some(function (step) { return config.verdicts[step[1]] === "chosen"; });
    box.appendChild(el("p", "aim-why", chosen ? "Why the planner chose " + data.plans[decision.plan].id +
      ": the candidates it walked, in order." : "The candidates the planner tried on one host, and why:"));
    box.appendChild(pathList(data, walked(decision, config), config));
    var others = alternatives(data, decision, shown);
    if (others.length) {
      box.appendChild(el("p", "aim-why", "Other plans that run for this choice:"));
      var list = el("ul", "aim-alternatives");
      others.forEach(function (step) {
        var c = data.candidates[step[0]];
        var other = data.plans[c.plan];
        var li = el("li");
        var link = el("a", null, other.id);
        link.href = "#aim-builder";
        link.setAttribute("data-plan", other.id);
        link.addEventListener("click", function (event) { event.preventDefault(); pick(other.id); });
        li.appendChild(link);
        li.appendChild(document.createTextNode(" — " + c.label + " (" + (config.status[other.status] || other.status) +
          (other.tight ? ", tight" : "") + ")"));
        list.appendChild(li);
      });
      box.appendChild(list);
    }
  }

  function renderNone(box, data, decision, config, code, message) {
    var p = el("p", "aim-none");
    p.appendChild(el("strong", null, "No plan for this choice. "));
    p.appendChild(el("code", null, code));
    p.appendChild(document.createTextNode(" " + (config.reasons[code] || "")));
    box.appendChild(p);
    if (message) box.appendChild(el("p", "aim-none-message", message));
    if (decision) {
      box.appendChild(el("p", "aim-why", "The candidates the planner tried, and why each was rejected:"));
      box.appendChild(pathList(data, decision.path, config));
    }
  }

  function mainReason(data, decision) {
    // The reason most of the rejected candidates share; the first one's when they tie.
    var counts = {}, best = null;
    decision.path.forEach(function (step) {
      var r = data.candidates[step[0]].reason;
      counts[r] = (counts[r] || 0) + 1;
      if (best === null || counts[r] > counts[best]) best = r;
    });
    return best || "no-recipe";
  }

  function init() {
    var root = document.getElementById("aim-builder");
    if (!root) return;  // not a model page
    var config = JSON.parse(root.getAttribute("data-config"));
    var form = document.getElementById("aim-builder-form");
    var result = document.getElementById("aim-builder-result");
    window.aimBuilderData = window.aimBuilderData || {};
    var loading = {};
    var alternative = null;  // a plan id the reader picked among the alternatives, or null
    var FIELDS = PLAN_FIELDS.concat((config.serving || []).map(function (o) { return o.field; }));

    function state() {
      var s = {serving: config.serving || []};
      FIELDS.forEach(function (name) { s[name] = form.elements[name].value; });
      return s;
    }

    function setValue(name, value) {
      var select = form.elements[name];
      for (var i = 0; i < select.options.length; i++) {
        if (select.options[i].value === value) { select.value = value; return true; }
      }
      return false;
    }

    function show(writeUrl) {
      var s = state();
      if (writeUrl) {
        var params = new URLSearchParams(location.search);
        FIELDS.forEach(function (name) { params.set(name, s[name]); });
        if (alternative) params.set("plan", alternative);
        else params.delete("plan");
        history.replaceState(null, "", location.pathname + "?" + params.toString() + location.hash);
      }
      var data = window.aimBuilderData[s.gpu];
      if (!data) {
        result.textContent = "Loading the plans for " + s.gpu + "…";
        if (!loading[s.gpu]) {
          loading[s.gpu] = true;
          var script = document.createElement("script");
          script.src = config.files[s.gpu];
          script.onload = function () { show(false); };
          script.onerror = function () { result.textContent = "The plans for " + s.gpu + " could not be loaded."; };
          document.head.appendChild(script);
        }
        return;
      }
      var key = [s.n, s.mode, s.precision, s.engine, s.objective].join("/");
      result.textContent = "";
      result.setAttribute("data-key", key);
      var box = el("div", "aim-builder-plan");
      if (!(key in data.keys)) {
        var message = data.not_offered[s.precision] || "No lookup key " + key + " on " + s.gpu + ".";
        renderNone(box, data, null, config, "precision-not-offered", message);
        result.removeAttribute("data-plan");
      } else {
        var decision = data.decisions[data.keys[key]];
        if (decision.plan === null && decision.multi_node !== null) {
          var several = el("p", "aim-none");
          several.appendChild(el("strong", null, "One host cannot serve this choice. "));
          several.appendChild(document.createTextNode("This plan serves it on several hosts:"));
          box.appendChild(several);
          var alone = {plan: decision.multi_node, path: decision.path, warnings: decision.warnings};
          renderPlan(box, data, alone, config, s, decision.multi_node, function () {});
          result.setAttribute("data-plan", data.plans[decision.multi_node].id);
        } else if (decision.plan === null) {
          renderNone(box, data, decision, config, mainReason(data, decision), null);
          result.removeAttribute("data-plan");
        } else {
          var shown = decision.plan;
          alternatives(data, decision, decision.plan).forEach(function (step) {
            var i = data.candidates[step[0]].plan;
            if (data.plans[i].id === alternative) shown = i;
          });
          if (shown === decision.plan) alternative = null;  // not an alternative of this choice
          renderPlan(box, data, decision, config, s, shown, function (id) { alternative = id; show(true); });
          result.setAttribute("data-plan", data.plans[shown].id);
        }
      }
      result.appendChild(box);
    }

    var params = new URLSearchParams(location.search);
    var given = FIELDS.concat(["plan"]).some(function (name) { return params.get(name) !== null; });
    if (config["default"]) {
      setValue("gpu", config["default"].gpu);
      setValue("n", String(config["default"].n));
    }
    FIELDS.forEach(function (name) {
      var value = params.get(name);
      if (value !== null) setValue(name, value);
    });
    alternative = params.get("plan");
    root.hidden = false;
    form.addEventListener("change", function () { alternative = null; show(true); });
    show(given);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
