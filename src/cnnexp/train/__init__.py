"""Training: the LightningModule, losses, optimisers, the Trainer and what a run writes.

Read from the config groups conf/loss, conf/optimizer, conf/scheduler, conf/trainer, conf/logger and
conf/callbacks, each in the file of the same name here.
"""
