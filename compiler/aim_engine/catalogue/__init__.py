"""The catalogue: YAML models and recipes, built-in hardware and engine data, their schemas,
and the frozen records everything downstream works on."""
