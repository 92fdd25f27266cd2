"""Discriminative fine-tuning: a pretrained model's up-pass as a feed-forward classifier.

``to_classifier`` copies the deterministic up-pass of a DBN (or sigmoid belief net, RBM or DBM)
into ``torch.nn`` layers, one block per hidden layer: the field module of the factor that feeds
it (the factor contract's ``as_module``: an ``nn.Linear`` for a dense factor, a ``ConvField``
for a convolution) and the layer's activation (the unit contract's ``nn_activation``), and puts
a new softmax output layer (a Linear giving logits) on top; ``train_classifier`` then maximises
log P(y | v) by backpropagation (Hinton & Salakhutdinov 2006; Hinton, Osindero & Teh 2006,
section 6). ``random_like`` gives the same architecture randomly initialised, the baseline
pretraining is compared with.

Which weights the up-pass uses:

- directed factor parent → child: the *recognition* weights and bias, field of the parent =
  child @ Rᵀ + recognition_bias (what ``pgmdbn.inference.up_means`` computes);
- the undirected top of a DBN: the hidden field from the top's input layer only,
  h_top = sigmoid(h_below @ W + b_top); a label layer joined to the top (``y``) is ignored;
- RBM: h = sigmoid(v @ W + b_h), the exact posterior mean;
- convolutional factors (``conv2d``): the convolution with the filters plus the layer's per-unit
  bias map; a probabilistic max-pooling layer's activation gives its detection units'
  probabilities, the next convolution sums their blocks first (the pooling units'
  probabilities, as the model's conv factor reads a pooled layer), and the top layer hands the
  output what the unit contract's ``nn_pool`` gives (a pooled layer: its pooling units);
- ``activation="log_partition"``: each hidden layer hands on its variables' log partitions
  instead of their means (``nn_log_partition``: a softplus of the field for Bernoulli units,
  −log p(block off) = log(1 + Σ_block exp η) per pooling block), the pooled features
  −log(1 − P) of the pooling probabilities P, a softplus of a soft max-pooling: unbounded
  where the means saturate, and ≈ P where P is small, so a sparse pretrained layer's weights
  still fit the layer above;
- ``activation="mode"``: the log partitions at zero temperature, s(mode(η)) ⊙ η
  (``nn_mode``: ReLU for Bernoulli units, the block's largest field where positive for a
  pooling block), an ordinary ReLU/max-pooling conv net; a sparse pretrained layer's units
  are mostly below 0 there, and get no gradient;
- DBM: one bottom-up pass with each weight matrix used once, h_k = sigmoid(h_{k-1} @ W_k + b_k).
  This is an approximation: the DBM's posterior also takes top-down input from h_{k+1} (mean
  field iterates to it), and Salakhutdinov & Hinton (2009) fed the mean-field posteriors to
  their classifier as extra inputs instead.

The classifier owns copies of the parameters: training it leaves the source model untouched.
"""
from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .. import validation
from ..errors import DataError, ModelError, UnsupportedModel
from ..training import Schedule, TrainResult, batches, make_optimizer, param_groups, stages, train
from ..training.trainers import is_stream
from .blocks import layer_block

__all__ = ["Classifier", "feature_path", "to_classifier", "random_like", "train_classifier", "error_rate"]

OUTPUT = "output"
# what a hidden layer passes on: its means, or its variables' log partitions (unit contract methods)
ACTIVATIONS = {"mean": "nn_activation", "log_partition": "nn_log_partition", "mode": "nn_mode"}


class Classifier(nn.Sequential):
    """A feed-forward classifier: one block ``nn.Sequential(field, activation)`` per hidden layer
    (e.g. Linear and Sigmoid; a layer whose mean is out_scale * act(field), such as binomial
    units, adds a ``Scale``; a pooled top layer's block ends with its ``nn_pool``), named after
    the model's layer (``net.h1``, ``net.h2``, …), then ``net.output``, a Linear giving the
    logits. ``net(x)`` returns the logits; ``activations(x)`` every hidden layer."""

    def __init__(self, blocks: OrderedDict):
        super().__init__(blocks)
        self.layer_names = [n for n in blocks if n != OUTPUT]

    @property
    def n_classes(self) -> int:
        return self.output.out_features

    @property
    def n_inputs(self) -> int:
        if not self.layer_names:
            return self.output.in_features
        first = self[0]
        while isinstance(first, nn.Sequential):  # the first layer's field module (its factor's as_module)
            first = first[0]
        return first.in_features

    def activations(self, x: Tensor) -> dict[str, Tensor]:
        """{hidden layer: (n, size)} for inputs x, and "output": the logits."""
        out = {}
        for name, block in self.named_children():
            x = block(x)
            out[name] = x
        return out

    @torch.no_grad()
    def predict(self, x: Tensor, batch_size: int = 1000) -> Tensor:
        """The most probable class per row: (n,)."""
        return _logits(self, x, batch_size).argmax(1)


def feature_path(model) -> list[tuple[str, str, str]]:
    """The up-pass as steps (input layer, layer, kind) from the visible layer up; kind is
    "recognition" (a directed factor read upwards) or "undirected" (an undirected factor's hidden
    field from one side)."""
    if not model.factors:
        raise UnsupportedModel("the model has no factors, so there is no up-pass to turn into a classifier")
    if model.is_undirected:  # RBM or DBM: a chain v — h1 — h2 …
        return [(inputs[0], hidden, "undirected") for inputs, hidden in stages(model)]
    path, previous = [], model.visible
    for parent in model.up_order():
        children = model.children_of(parent)
        if children != [previous]:
            raise UnsupportedModel(f"a classifier stacks one layer on the one below; layer {parent!r} takes "
                                   f"recognition input from {', '.join(children)}, not from {previous!r} alone")
        path.append((previous, parent, "recognition"))
        previous = parent
    top = model.undirected_layers()
    if top:
        if previous not in top:
            raise UnsupportedModel(f"the undirected part ({', '.join(top)}) does not sit on the up-pass's last "
                                   f"layer {previous!r}")
        colours = model.submodel(top).colour_classes()
        other = next(c for c in colours if previous not in c)
        above = [n for n in other if n in model.undirected_neighbours(previous)]
        if len(above) != 1:
            raise UnsupportedModel(f"the undirected top must have one hidden layer joined to {previous!r}; "
                                   f"found {', '.join(above) or 'none'}")
        path.append((previous, above[0], "undirected"))
    return path


def _input_scale(units) -> Tensor:
    """How the visible layer's values enter its factors: in_scale * x (the unit contract's
    ``scales``; 1/sigma for Gaussian units, whose statistic is x / sigma), folded into the first
    Linear. A layer whose ``nn_input`` is not x itself (it rescales each example as a whole, as
    a length-normalised replicated softmax does) is refused: the classifier feeds its first
    Linear the data unchanged."""
    probe = torch.tensor([[1.0], [3.0]]).expand(2, units.size)
    if not torch.equal(units.nn_input(probe), probe):
        raise UnsupportedModel(f"layer {units.layer_name!r} ({units.name}) sends its factors a per-example "
                               f"rescaling of the data (its nn_input, e.g. a replicated softmax with "
                               f"normalize_length); the classifier feeds the data to its first Linear unchanged "
                               f"and does not support such a layer below a hidden layer")
    return units.scales()[1]


def _check_hidden(units, layer: str) -> None:
    """Refuse a hidden layer the classifier cannot turn into Linear + the layer's activation."""
    if not units.discrete:
        raise UnsupportedModel(f"hidden layer {layer!r} is {units.name}, real-valued; the classifier turns hidden "
                               f"layers of discrete units (Bernoulli, or a plugin type that converts to torch.nn) "
                               f"into their mean activations and supports no real-valued hidden layer")
    if units.categories is not None or units.conserved(torch.zeros(1, units.size)) is not None:
        raise UnsupportedModel(f"hidden layer {layer!r} is {units.name}, one categorical variable or a layer with "
                               f"a conserved total; the classifier's hidden layers are layers of independent "
                               f"units such as Bernoulli")
    units.nn_activation(), units.scales()  # raise UnsupportedModel for a type without a torch.nn form


@torch.no_grad()
def to_classifier(model, n_classes: int, *, layers: Sequence[str] | None = None, seed: int = 0,
                  output_scale: float = 0.01, activation: str = "mean") -> Classifier:
    """A ``Classifier`` whose hidden layers are copies of ``model``'s up-pass (see the module
    docstring for which weights) and whose output is a new Linear(n_top, n_classes) with weights
    ~ N(0, output_scale²) (seeded) and zero bias.

    ``layers`` keeps only the first hidden layers of the up-pass (e.g. ["h1", "h2"]); default all.
    Hidden layers must be discrete layers of independent units whose type converts to torch.nn
    (Bernoulli: the mean is the sigmoid of the field; see the unit contract's ``nn_activation``).
    ``activation``: "mean" (the up-pass's means), "log_partition" (the layers' log partitions,
    ``nn_log_partition``) or "mode" (their zero-temperature limit, ``nn_mode``); see the module
    docstring.
    """
    if int(n_classes) != n_classes or n_classes < 2:
        raise ValueError(f"n_classes must be an integer of at least 2, got {n_classes!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}, got {activation!r}")
    path = feature_path(model)
    names = [layer for _, layer, _ in path]
    if layers is not None:
        layers = list(layers)
        if not layers or layers != names[:len(layers)]:
            raise ModelError(f"layers must be a non-empty prefix of the up-pass {names}, got {layers}")
        path = path[:len(layers)]
    if OUTPUT in names:
        raise ModelError(f"a layer named {OUTPUT!r} clashes with the classifier's output; rename it")
    blocks = OrderedDict()
    for below, layer, kind in path:
        units = model.layer(layer)
        _check_hidden(units, layer)
        recognition = kind == "recognition"
        # the layer below sends in_scale * value; this layer's mean is out_scale * act(field)
        field = model.factor(layer, below).as_module(layer, recognition=recognition,
                                                     add=None if recognition else units.bias,
                                                     in_scale=_input_scale(model.layer(below)))
        blocks[layer] = layer_block(field, units, getattr(units, ACTIVATIONS[activation])())
    top_units = model.layer(path[-1][1])
    top_pool = top_units.nn_pool()  # what the top layer hands the output (a pooled layer: its pooling units)
    n_top = top_pool(torch.zeros(1, top_units.size)).shape[-1]
    if not isinstance(top_pool, nn.Identity):
        blocks[path[-1][1]].append(top_pool)
    gen = torch.Generator().manual_seed(seed)
    output = nn.utils.skip_init(nn.Linear, n_top, int(n_classes))  # set below from ``gen``
    output.weight.copy_(torch.randn(output.weight.shape, generator=gen) * output_scale)
    output.bias.zero_()
    blocks[OUTPUT] = output
    device = next(model.parameters()).device
    return Classifier(blocks).to(device)


@torch.no_grad()
def random_like(classifier: Classifier, seed: int = 0, init: str = "glorot") -> Classifier:
    """A copy of ``classifier`` with every module that owns a ``weight`` and a ``bias`` (each
    layer's field module, a Linear or a convolution's ``ConvField``, and the output) randomly
    re-initialised (seeded; a convolution's fans count its kernel):

    - "glorot": weights ~ U(±sqrt(6 / (fan_in + fan_out))), biases 0 (Glorot & Bengio 2010);
    - "pytorch": ``nn.Linear``'s default, weights and biases ~ U(±1/sqrt(fan_in));
    - "small": weights ~ N(0, 0.01²), biases 0 (the RBM starting point).
    """
    if init not in ("glorot", "pytorch", "small"):
        raise ValueError(f"unknown init {init!r}; use 'glorot', 'pytorch' or 'small'")
    net = copy.deepcopy(classifier)
    gen = torch.Generator().manual_seed(seed)
    for module in net.modules():  # every field module (a factor's as_module) owns a weight and a bias
        w, b = module._parameters.get("weight"), module._parameters.get("bias")
        if w is None or b is None:
            continue
        receptive = w[0, 0].numel() if w.dim() > 2 else 1  # a convolution's fans count its kernel
        fan_out, fan_in = w.shape[0] * receptive, w.shape[1] * receptive
        if init == "glorot":
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            w.copy_((torch.rand(w.shape, generator=gen) * 2 - 1) * bound)
            b.zero_()
        elif init == "pytorch":
            bound = 1.0 / math.sqrt(fan_in)
            w.copy_((torch.rand(w.shape, generator=gen) * 2 - 1) * bound)
            b.copy_((torch.rand(b.shape, generator=gen) * 2 - 1) * bound)
        else:
            w.copy_(torch.randn(w.shape, generator=gen) * 0.01)
            b.zero_()
    return net


def _check(net, x, labels, what: str = "data") -> tuple[Tensor, Tensor]:
    x = validation.tensor(what, x, finite=False)
    labels = validation.tensor(f"{what} labels", labels, finite=False)
    if x.ndim != 2 or x.shape[1] != net.n_inputs:
        raise DataError(f"{what}: the classifier takes inputs of shape (n, {net.n_inputs}), got {tuple(x.shape)}")
    if labels.ndim != 1 or len(labels) != len(x):
        raise DataError(f"{what}: give one integer label per row ({len(x)}), got labels of shape "
                        f"{tuple(labels.shape)}")
    if len(x) == 0:
        raise DataError(f"{what}: the data set is empty")
    if labels.is_floating_point() and not torch.equal(labels, labels.round()):
        raise DataError(f"{what}: labels must be class indices 0..{net.n_classes - 1}")
    labels = labels.long()
    if labels.min() < 0 or labels.max() >= net.n_classes:
        raise DataError(f"{what}: labels must lie in 0..{net.n_classes - 1}, found {labels.min().item()}.."
                        f"{labels.max().item()}")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise DataError(f"{what}: the inputs hold non-finite values")
    return x.float(), labels


def _logits(net, x: Tensor, batch_size: int = 1000) -> Tensor:
    device = next(net.parameters()).device
    x = torch.as_tensor(x).float()
    was = net.training
    net.eval()
    try:
        with torch.no_grad():
            return torch.cat([net(x[i:i + batch_size].to(device)) for i in range(0, len(x), batch_size)])
    finally:
        net.train(was)


def _evaluate(net, x, labels, batch_size: int = 1000) -> tuple[float, float]:
    logits = _logits(net, x, batch_size)
    labels = labels.to(logits.device)
    loss = F.cross_entropy(logits, labels).item()
    return loss, (logits.argmax(1) != labels).float().mean().item()


def error_rate(net: Classifier, x, labels, batch_size: int = 1000) -> float:
    """The fraction of rows of ``x`` whose most probable class is not their label."""
    x, labels = _check(net, x, labels)
    return _evaluate(net, x, labels, batch_size)[1]


def train_classifier(net: Classifier, x, labels, *, epochs: int = 30, lr: float = 0.1, momentum: float = 0.9,
                     weight_decay: float = 1e-5, batch_size: int = 100, seed: int = 0, device=None,
                     valid=None, progress: bool = True, optimizer: str = "sgd", warmup_epochs: int = 0,
                     lr_schedule: Schedule = None, dropout: float = 0.0, input_dropout: float = 0.0,
                     restore_best: bool = False, callbacks: Sequence[Callable] = ()) -> TrainResult:
    """Fine-tune ``net`` in place by backprop on the cross-entropy -log P(y | x) on the training
    loop (``pgmdbn.training.train``); the result's history has one metrics dict per epoch.

    ``optimizer`` "sgd" (momentum ``momentum``, torch's form: the step is lr times the velocity)
    or "adam" (betas (momentum, 0.999)); ``weight_decay`` (L2) applies to the weights, not the
    biases. The first ``warmup_epochs`` of the ``epochs`` train only the output layer, the rest
    train everything (Hinton & Salakhutdinov 2006 trained the top layer alone first).
    ``lr_schedule``: None/"constant", "linear", "cosine" or a function of the epoch (as in
    ``pgmdbn.fit``). ``dropout`` and ``input_dropout`` drop each hidden unit or input with that
    probability in training (inverted dropout, so the trained net is used as it is; Hinton et
    al. 2012 fine-tuned pretrained DBNs this way); the masks come from a generator seeded by
    ``seed`` and the epoch, so a seed gives the same net in any process. ``valid`` is (x, labels). Each epoch reports
    ``loss`` (mean training cross-entropy over the epoch's rows), ``train_error`` (of the
    batches as they were seen), ``warmup``, with ``valid`` also ``valid_loss`` and
    ``valid_error``, and ``seconds``. ``callbacks`` are called as ``cb(net, epoch, metrics)``.
    ``restore_best`` (needs ``valid``) ends on the parameters of the epoch with the lowest
    ``valid_loss`` (early stopping). A diverged epoch raises ``TrainingDiverged`` with the
    parameters of the last good epoch restored.

    With ``labels`` None, ``x`` is batches instead: a ``Dataset`` of (x, label) rows (batched
    by a seeded shuffling ``DataLoader``) or any iterable of (x, labels) batches or
    {"x", "y"} dicts, read once per epoch (see ``pgmdbn.training.batches``).
    """
    if not (0 <= dropout < 1 and 0 <= input_dropout < 1):
        raise ValueError(f"dropout probabilities must lie in [0, 1), got {dropout} and {input_dropout}")
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    if batch_size < 1 or epochs < 0 or not 0 <= warmup_epochs <= epochs:
        raise ValueError(f"need batch_size >= 1 and 0 <= warmup_epochs <= epochs; got batch_size {batch_size}, "
                         f"epochs {epochs}, warmup_epochs {warmup_epochs}")
    validation.seed(seed)
    validation.nonnegative_float("lr", lr)
    validation.nonnegative_float("weight_decay", weight_decay)
    device = validation.device(device) or next(net.parameters()).device
    net.to(device)
    streamed = labels is None and is_stream(x)
    if streamed:
        source = batches(x, batch_size, seed)

        def prepare(raw):
            bx, by = (raw["x"], raw["y"]) if isinstance(raw, dict) else raw
            bx, by = _check(net, bx, by, "a training batch")
            return {"x": bx.to(device), "y": by.to(device)}
    else:
        x, labels = _check(net, x, labels, "training data")
    if valid is not None:
        vx, vy = _check(net, *valid, "validation data")
    elif restore_best:
        raise ValueError("restore_best needs validation data: pass valid=(x, labels)")
    top = {id(p) for p in net.output.parameters()}
    body = [p for p in net.parameters() if p.requires_grad and id(p) not in top]
    opt = make_optimizer(optimizer, param_groups(net.parameters(), weight_decay), lr, momentum)
    wrong = torch.zeros((), device=device)
    rows = [0]

    masks = [None]  # the dropout masks' generator, seeded per epoch (a resumed run draws the same masks)

    def loss(batch):
        logits = _forward(net, batch["x"], dropout, input_dropout, masks[0])
        wrong.add_((logits.detach().argmax(1) != batch["y"]).sum())
        rows[0] += len(batch["y"])
        return F.cross_entropy(logits, batch["y"])

    def before_epoch(epoch):
        wrong.zero_()
        rows[0] = 0
        if dropout or input_dropout:
            masks[0] = torch.Generator(device=device).manual_seed(dropout_seed(seed, epoch))
        for p in body:  # warm-up: the hidden layers wait
            p.requires_grad_(epoch >= warmup_epochs)

    def evaluate(epoch):
        metrics = {"train_error": wrong.item() / max(rows[0], 1), "warmup": epoch <= warmup_epochs}
        if valid is not None:
            metrics["valid_loss"], metrics["valid_error"] = _evaluate(net, vx, vy)
        return metrics

    net.train()
    try:
        return train(net, source if streamed else {"x": x.to(device), "y": labels.to(device)}, loss, opt,
                     epochs=epochs, prepare=prepare if streamed else None,
                     batch_size=batch_size, seed=seed, lr_schedule=lr_schedule, before_epoch=before_epoch,
                     evaluate=evaluate, score="valid_loss" if valid is not None else None,
                     restore_best=restore_best, callbacks=callbacks, progress=progress, what="fine-tuning",
                     advice=" or momentum")
    finally:
        for p in body:
            p.requires_grad_(True)


def dropout_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch``'s dropout masks: a stream apart from the loop's shuffling
    (which seeds with seed * 1_000_003 + epoch)."""
    return (seed * 1_000_003 + epoch + 0x9E3779B97F4A7C15) % 2 ** 63


def _drop(h: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Inverted dropout of ``h`` (..., n) with probability ``p``, its mask drawn from ``generator``."""
    keep = torch.rand(h.shape, generator=generator, device=h.device, dtype=h.dtype) >= p
    return h * keep / (1 - p)


def _forward(net, x: Tensor, dropout: float, input_dropout: float, generator: torch.Generator | None = None) -> Tensor:
    """The training-time forward pass, with dropout on the inputs and every hidden layer, its
    masks drawn from ``generator`` (never torch's global generator)."""
    if not (dropout or input_dropout):
        return net(x)
    h = _drop(x, input_dropout, generator) if input_dropout else x
    for name, block in net.named_children():
        h = block(h)
        if dropout and name != OUTPUT:
            h = _drop(h, dropout, generator)
    return h
