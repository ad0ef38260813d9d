"""The Pulumi program that deploys flaregate: one ComponentResource per concern.

``Pulumi.yaml`` at the repository root points here (``pulumi up`` runs ``__main__.py``), and
``flaregate deploy`` runs the same :func:`infra.program.flaregate_program` through the Automation
API. Modules: ``config`` (stack config -> settings), ``keyring`` (the KV namespace), ``gateway``
(AI Gateway), ``origin`` (Origin CA certificate, DNS, shared secret), ``worker`` (the script, its
bindings and its public URL), ``program`` (wires them together and exports the outputs).
"""
