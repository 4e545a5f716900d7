"""The tasks `task=NAME` selects: the module of cnnexp/tasks that registers each, and its line in --help.

Kept outside the tasks package (whose import reads runs, with torch) so that --help can list the tasks, and
so that a run imports only the module of its own task: task=summary never imports Lightning.
"""

from __future__ import annotations

TASK_MODULES = {
    "train": ("train", "fit, then test the best checkpoint (the default)"),
    "test": ("test", "evaluate ckpt_path=PATH on the test split"),
    "predict": ("predict", "classify images: ckpt_path=PATH input=FILE|FOLDER|GLOB; top-k classes and predictions.csv"),
    "export": ("export", "write ckpt_path=PATH as onnx, torchscript or pt2 (format=...) with a JSON sidecar, checked"),
    "summary": ("summary", "the model's table: shapes, parameters, mult-adds (json=true: JSON); no data, no training"),
    "lr_find": ("lr_find", "Lightning's learning-rate range test: the suggested optimizer.lr and lr_find.png"),
    "kernels": ("kernels", "apply conf/kernels' fixed kernels to an image and save the feature maps"),
}
# The tasks that rebuild their model from ckpt_path's record (checkpoint/match.py): their run folders are named
# after the checkpoint's model (rundir/names.py).
FROM_CHECKPOINT = ("test", "predict", "export")
# The tasks that build the model of this run's config: its layers are planned (shapes only, torch without
# Lightning) before the task's module is imported and before the run takes its folder (tasks/lifecycle.py).
BUILD_CONFIG_MODEL = ("train", "lr_find")
