"""The Pulumi program that deploys flaregate: one ComponentResource per concern.

Installed as ``flaregate.infra`` (the repository keeps it in ``infra/``). ``Pulumi.yaml`` at the
repository root points here (``pulumi up`` runs ``__main__.py``), and ``flaregate deploy`` runs the
same :func:`flaregate.infra.program.flaregate_program` through the Automation API: the one place
the rest of flaregate reaches this package. The program uses flaregate (stack config keys in
:mod:`flaregate.stack_config`, rendering in :mod:`flaregate.render`), never the other way round.
Modules: ``keyring`` (the KV namespace), ``gateway`` (AI Gateway), ``origin`` (Origin CA
certificate, DNS, shared secret), ``worker`` (the script, its bindings and its public URL),
``program`` (reads the stack config, wires the rest together and exports the outputs).
"""
