"""The Worker's sources (``src/*.js``) and the Jinja2 templates that assemble them.

Not Python code: a package only so that the installed flaregate finds these files through the
import system (as ``flaregate.worker_template``, see pyproject.toml), from a wheel as from a clone.
"""
