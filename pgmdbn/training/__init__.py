"""The training layer: one loop (``train``) under every training function, ``fit`` for the
trainer engines, and greedy layer-wise ``pretrain``."""
from .greedy import pretrain, stage_rbm, stages
from .loop import (Schedule, StateKeeper, TrainResult, batches, epoch_order, lr_factor, make_optimizer,
                   param_groups, train)
from .trainers import as_data, fit, is_stream, k_at, make_engine

__all__ = ["train", "TrainResult", "Schedule", "StateKeeper", "lr_factor", "make_optimizer", "param_groups",
           "fit", "as_data", "k_at", "make_engine", "pretrain", "stages", "stage_rbm", "batches", "is_stream",
           "epoch_order"]
