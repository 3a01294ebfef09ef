"""PEP 562 lazy attributes: a package's public names, each imported from its module on first use.

A package lists `name -> module` and gets `__getattr__` / `__dir__` from `lazy_attributes`, so that
importing the package costs nothing until a name is used (and TensorFlow-only modules stay out of
a process that never touches them).
"""

import importlib


def lazy_attributes(package_globals, table):
    """(`__getattr__`, `__dir__`) for a package whose names in `table` live in other modules.

    `table` maps an attribute name to the dotted module that defines it, or to None for a
    subpackage or submodule of the package itself, imported under that name.
    """
    package = package_globals["__name__"]

    def __getattr__(name):
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = table[name]
        if module is None:
            value = importlib.import_module(f"{package}.{name}")
        else:
            value = getattr(importlib.import_module(module), name)
        package_globals[name] = value
        return value

    def __dir__():
        return sorted(set(package_globals) | set(table))

    return __getattr__, __dir__
