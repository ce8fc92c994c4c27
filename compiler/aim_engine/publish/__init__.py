"""Publishing a planned catalogue: the static JSON API, artifacts, the site and aim-pick.pyz.
Templates and the site sources are package data (templates/, mkdocs/)."""
