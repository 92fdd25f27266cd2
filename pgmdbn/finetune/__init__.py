"""Discriminative fine-tuning of pretrained models: the up-pass as a ``torch.nn`` classifier
with a softmax output, trained by backprop on log P(y | v)."""
from .classifier import Classifier, error_rate, feature_path, random_like, to_classifier, train_classifier

__all__ = ["Classifier", "to_classifier", "random_like", "train_classifier", "error_rate", "feature_path"]
