"""The sweep report: one table (Markdown and CSV) and two plots for every job of a Hydra multirun.

`python -m cnnexp.report PATH` writes it for any sweep folder; conf/config.yaml's `hydra.callbacks.report`
writes it when a multirun ends. The entry points are `cnnexp.report.build.write_report` and
`cnnexp.report.callback.ReportCallback`. Nothing heavy is imported here: Hydra imports the callback module for
every run, sweep or not.
"""
