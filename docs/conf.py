"""Sphinx configuration for the kombu documentation."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath('..'))

import kombu

project = 'kombu'
author = 'The kombu developers'
copyright = '2026, The kombu developers'
release = kombu.__version__
version = '.'.join(release.split('.')[:2])

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.intersphinx',
    'sphinx.ext.viewcode',
    'sphinx.ext.napoleon',
]
autodoc_member_order = 'bysource'
autodoc_typehints = 'none'
# Class attributes that alias exceptions would document them twice.
autodoc_default_options = {
    'undoc-members': False,
    'exclude-members': 'ContentDisallowed, MessageStateError, LimitExceeded, Empty',
}
intersphinx_mapping = {}
exclude_patterns = ['_build']
html_theme = 'alabaster'
nitpicky = False
suppress_warnings = ['ref.python']
