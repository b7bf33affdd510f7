"""Predictions made elsewhere, scored here: ``--methods LABEL=predictions:DIR``.

The spelling is recognised by :func:`harness.registry.predictions_folder` before the plug-in
syntax ``pkg.module:factory``; :mod:`harness.predictions.method` is the predictor that reads the
folder, :mod:`harness.predictions.decode` the file formats it accepts (docs/predictions.md §3).
From Python::

    from harness.data.export import export
    export(spec, "inputs", "lama")                       # then run the model on inputs/
    run(RunConfig.of(spec, ["mine=predictions:inputs/predictions"]))
"""
