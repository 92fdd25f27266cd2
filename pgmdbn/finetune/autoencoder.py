"""Deep autoencoders (Hinton & Salakhutdinov 2006): a greedily pretrained stack of RBMs unrolled
into an encoder and a decoder, then fine-tuned by backpropagation of the reconstruction error.

``stack(sizes, …)`` builds the DBN to pretrain: directed layers h_{k-1} → … → h1 → v under an
undirected top h_{k-1} — code, whose code units are Gaussian (linear, unit variance: the paper's
"linear code units"). ``pgmdbn.pretrain`` trains it greedily, with a learning rate per RBM
through ``per_stage`` (real-valued layers need smaller ones). ``unroll`` copies it into a
``DeepAutoencoder``:

- encoder: v → h1 → … → code by the recognition weights and biases (``up_means``) and, at the
  top, the undirected weights with the code layer's bias;
- decoder: code → h_{k-1} → … → v by the transposed weights: the top RBM's with h_{k-1}'s bias,
  then the generative weights with each child's bias (the visible bias of the RBM above it).

Right after greedy stacking the decoder weights equal the encoder's transposed ("tied"), but
they are separate parameters, so fine-tuning unties them. Bernoulli layers become logistic
units, Gaussian ones linear units (x / sigma is what a Gaussian layer sends on: sigma is folded
into the weights). The output is logistic for Bernoulli visible units, trained on the
cross-entropy (data in [0, 1], as the paper's MNIST and curves), or linear for Gaussian visible
units, trained on the squared error (standardised real data, as the paper's faces), or a
softmax for replicated-softmax visible units (word counts, as the paper's documents), trained on
the multinomial cross-entropy of the counts (see ``DeepAutoencoder``).

Binary codes for semantic hashing (Salakhutdinov & Hinton 2009): with a logistic (Bernoulli)
code layer, ``add_code_noise`` adds Gaussian noise to the code units' input while fine-tuning,
which pushes them towards 0 and 1; ``binary_codes`` thresholds them at 0.5.

Fine-tuning: the paper used conjugate gradients (3 line searches on mini-batches of 1000, 200
epochs of 60k images); ``fine_tune`` uses Adam with decoupled weight decay by default (on 5k
MNIST images, 20 epochs: test error 8.0 against 10.9 for SGD with momentum), or SGD with
momentum, or L-BFGS with a strong-Wolfe line search on large mini-batches (the closest to the
paper's method).
"""
from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .. import validation
from ..errors import DataError, ModelError, UnsupportedModel
from ..graph import Model
from ..training import Schedule, TrainResult, batches, make_optimizer, param_groups, train
from ..training.trainers import is_stream
from .blocks import layer_block

__all__ = ["DeepAutoencoder", "stack", "chain", "unroll", "randomized", "fine_tune", "reconstruct",
           "reconstruction_error", "pca_baseline", "CodeNoise", "add_code_noise", "encode", "binary_codes"]

# what an output is called after its activation (the unit contract's ``nn_activation``); other
# activations are called by their class name, lower case (e.g. "tanh" for ±1 spin units)
_OUTPUT_NAMES = {nn.Sigmoid: "logistic", nn.Identity: "linear", nn.Softmax: "softmax"}


def _frozen(units):
    """A copy of a layer whose parameters are buffers: the autoencoder's output layer, which
    moves with it (``to``) but is not trained by fine-tuning."""
    units = copy.deepcopy(units)
    for name, p in list(units.named_parameters(recurse=False)):
        delattr(units, name)
        units.register_buffer(name, p.detach().float().clone())
    return units


class DeepAutoencoder(nn.Module):
    """Encoder and decoder, each an ``nn.Sequential`` of blocks ``Sequential(Linear, activation)``
    (and a ``Scale`` for a layer whose mean is out_scale * act(field), ``layer_block``) named
    after the model layer they compute (encoder ``h1 … code``, decoder ``… h1, v``).

    The decoder's last block is a bare Linear giving the output field; ``units``, a frozen copy
    of the visible layer, says how it becomes the reconstruction through the unit contract:
    ``decode`` gives out_scale * act(field) (``scale`` holds out_scale, a Gaussian layer's
    sigma), ``forward`` the layer's mean given the field (for replicated softmax the word
    probabilities times each input's document length), and ``loss`` its
    ``reconstruction_loss``. ``output`` names the output: "logistic" (Bernoulli;
    cross-entropy loss), "linear" (Gaussian; squared error) or "softmax" (replicated softmax;
    the multinomial cross-entropy −Σ_k x_k log softmax_k), or the activation's name for other
    unit types.
    """

    def __init__(self, encoder: nn.Sequential, decoder: nn.Sequential, units):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.units = _frozen(units)
        self.activation = units.nn_activation()
        self.output = _OUTPUT_NAMES.get(type(self.activation), type(self.activation).__name__.lower())
        self.register_buffer("scale", units.scales()[0].detach().clone().float())

    @property
    def sizes(self) -> list[int]:
        """Layer sizes of the encoder, visible first: e.g. [784, 1000, 500, 250, 30]."""
        return [self.encoder[0][0].in_features] + [block[0].out_features for block in self.encoder]

    def encode(self, x: Tensor) -> Tensor:
        """(n, n_visible) -> codes (n, n_code); the encoder reads the visible layer's ``nn_input``
        of x (x itself, or e.g. a length-normalised replicated softmax's L x / D)."""
        return self.encoder(self.units.nn_input(x))

    def decode_field(self, code: Tensor) -> Tensor:
        """codes (n, n_code) -> the output field (logits for a logistic output): (n, n_visible)."""
        return self.decoder(code)

    def decode(self, code: Tensor) -> Tensor:
        """codes (n, n_code) -> reconstructions (n, n_visible); word probabilities for a
        softmax output (the document length is not in the code)."""
        return self.activation(self.decode_field(code)) * self.scale

    def forward(self, x: Tensor) -> Tensor:
        return self.units.mean(self.decode_field(self.encode(x)), like=x)  # counts: x gives the length

    def loss(self, x: Tensor) -> Tensor:
        """The training loss per example, (n,): the visible layer's ``reconstruction_loss``
        (cross-entropy summed over pixels for a logistic output, squared error for a linear one)."""
        return self.units.reconstruction_loss(self.decode_field(self.encode(x)), x)


# --- building and pretraining the stack ------------------------------------------------------

def stack(sizes: Sequence[int], visible: str = "bernoulli", code: str = "gaussian",
          init_scale: float | Sequence[float] = 0.01, seed: int | None = 0) -> Model:
    """The DBN to pretrain: layers v, h1, …, h_k (h_k the code, of unit type ``code``), directed
    h_i → h_{i-1} below an undirected top h_{k-1} — h_k. Hidden layers below the code are
    Bernoulli. Weights ~ N(0, init_scale²), one scale or one per RBM bottom-up (a Gaussian
    visible layer learns faster from 0.1, as in the paper's code, than from 0.01)."""
    if len(sizes) < 2:
        raise ModelError(f"an autoencoder needs a visible and at least one hidden size, got {list(sizes)}")
    scales = list(init_scale) if isinstance(init_scale, Sequence) else [init_scale] * (len(sizes) - 1)
    if len(scales) != len(sizes) - 1:
        raise ModelError(f"init_scale gives {len(scales)} values for {len(sizes) - 1} RBMs")
    model = Model().add_layer("v", visible, sizes[0])
    names = ["v"] + [f"h{i}" for i in range(1, len(sizes))]
    for i, (name, size) in enumerate(zip(names[1:], sizes[1:]), 1):
        model.add_layer(name, code if i == len(sizes) - 1 else "bernoulli", size)
    for lower, upper in zip(names[:-2], names[1:-1]):
        model.add_directed(upper, lower)
    model.add_undirected(names[-2], names[-1])
    model.init_weights(1.0, seed)
    with torch.no_grad():  # N(0, 1) draws scaled per factor; recognition tied to generative
        for scale, (lower, upper) in zip(scales, zip(names, names[1:])):
            factor = model.factor(lower, upper)
            factor.weight.mul_(scale)
            if factor.directed:
                factor.recognition.copy_(factor.weight)
    return model


# --- unrolling -----------------------------------------------------------------------------

def _block(model, source: str, target: str, activation: bool = True) -> nn.Module:
    """The field of layer ``target`` from ``source`` (the factor's ``as_module``: recognition,
    read upwards, for a directed factor; else the generative weights and the target's bias;
    the source's in_scale folded in), then, unless it is the output, the target's activation
    and output scale (``layer_block``)."""
    factor = model.factor(source, target)
    recognition = factor.directed and target == factor.a
    field = factor.as_module(target, recognition=recognition, add=None if recognition else model.bias(target),
                             in_scale=model.layer(source).scales()[1])
    units = model.layer(target)
    return layer_block(field, units, units.nn_activation()) if activation else field


def _check_hidden(units, name: str) -> None:
    """Refuse a hidden (or code) layer that cannot be Linear + its activation in an encoder."""
    if units.categories is not None or units.conserved(torch.zeros(1, units.size)) is not None:
        raise UnsupportedModel(f"hidden layer {name!r} is {units.name}, one categorical variable or a layer with a "
                               f"conserved total; an autoencoder's hidden and code layers are layers of "
                               f"independent units (Bernoulli: logistic, Gaussian: linear)")
    units.nn_activation(), units.scales()  # raise UnsupportedModel for a type without a torch.nn form


def chain(model: Model) -> list[str]:
    """The layers of the up-pass, visible first: the directed part bottom-up (one child per
    layer), then the layer the undirected top joins to it (a label layer there is left out)."""
    if model.is_undirected and model.structure != "rbm":
        raise UnsupportedModel(f"unroll takes a DBN or an RBM; this is a {model.structure} (a DBM's layers take "
                               f"input from both sides, which an encoder-decoder does not reproduce)")
    path = [model.visible]
    for parent in model.up_order():
        if model.children_of(parent) != [path[-1]]:
            raise UnsupportedModel(f"an autoencoder stacks one layer on the one below; layer {parent!r} has "
                                   f"children {', '.join(model.children_of(parent))}")
        path.append(parent)
    above = model.undirected_neighbours(path[-1])
    if len(above) != 1:
        raise UnsupportedModel(f"unroll needs a DBN (or an RBM) whose undirected top joins one layer to "
                               f"{path[-1]!r}; this {model.structure} joins {', '.join(above) or 'none'}")
    return path + above


@torch.no_grad()
def unroll(model: Model) -> DeepAutoencoder:
    """The ``DeepAutoencoder`` of a pretrained DBN or RBM (see the module docstring): encoder
    blocks named after the hidden layers, decoder blocks after the layers they reconstruct.
    The autoencoder owns copies of the parameters; the model is left as it is."""
    path = chain(model)
    for name in path[1:]:
        _check_hidden(model.layer(name), name)
    visible = model.layer(path[0])
    visible.nn_activation(), visible.scales()  # raise UnsupportedModel for a type without a torch.nn form
    zero = visible.bias.detach().new_zeros(1, visible.size)
    try:  # the output's loss: an UnsupportedModel now rather than in fine-tuning
        visible.reconstruction_loss(zero, zero)
    except UnsupportedModel:
        raise
    except Exception:  # noqa: BLE001 - a domain complaint about the zero probe is no refusal
        pass
    encoder, decoder = OrderedDict(), OrderedDict()
    for below, above in zip(path, path[1:]):
        encoder[above] = _block(model, below, above)
    for above, below in zip(path[::-1], path[-2::-1]):  # generative, read downwards
        decoder[below] = _block(model, above, below, activation=below != path[0])
    device = next(model.parameters()).device
    return DeepAutoencoder(nn.Sequential(encoder), nn.Sequential(decoder), visible).to(device)


@torch.no_grad()
def randomized(ae: DeepAutoencoder, seed: int = 0, init: str = "glorot") -> DeepAutoencoder:
    """A copy of ``ae`` with every weight re-drawn (seeded), for the no-pretraining baseline:
    "glorot" U(±sqrt(6 / (fan_in + fan_out))) (Glorot & Bengio 2010), or "small" N(0, 0.01²)
    (the RBMs' starting point, the paper's random-init comparison); biases 0."""
    if init not in ("glorot", "small"):
        raise ValueError(f"init must be 'glorot' or 'small', got {init!r}")
    net = copy.deepcopy(ae)
    gen = torch.Generator().manual_seed(seed)
    for module in net.modules():
        if isinstance(module, nn.Linear):
            fan_out, fan_in = module.weight.shape
            if init == "glorot":
                draw = (torch.rand(module.weight.shape, generator=gen) * 2 - 1) * math.sqrt(6 / (fan_in + fan_out))
            else:
                draw = torch.randn(module.weight.shape, generator=gen) * 0.01
            module.weight.copy_(draw)
            module.bias.zero_()
    return net


# --- fine-tuning and evaluation ------------------------------------------------------------

def _check(ae: DeepAutoencoder, x, what: str) -> Tensor:
    x = validation.tensor(what, x, finite=False)
    n_in = ae.sizes[0]
    if x.ndim != 2 or x.shape[1] != n_in or len(x) == 0:
        raise DataError(f"{what}: the autoencoder takes a non-empty (n, {n_in}) array, got {tuple(x.shape)}")
    x = x.float()
    if not torch.isfinite(x).all():
        raise DataError(f"{what}: the data hold non-finite values")
    try:  # the visible layer's data domain (Bernoulli: [0, 1]; replicated softmax: counts)
        ae.units.validate(x)
    except DataError as e:
        raise DataError(f"{what}: the {ae.output} output reconstructs data of its visible layer: {e}") from None
    total = ae.units.conserved(x)
    if total is not None and (total <= 0).any():
        raise DataError(f"{what}: the {ae.output} output reconstructs each row relative to its total (a "
                        f"document's length): every row needs at least one word (drop empty documents)")
    return x


@torch.no_grad()
def reconstruct(ae: DeepAutoencoder, x, batch_size: int = 1000) -> Tensor:
    """Reconstructions (n, n_visible) of ``x``, in batches, in eval mode."""
    device = next(ae.parameters()).device
    x = torch.as_tensor(x).float()
    return torch.cat([ae(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def reconstruction_error(ae: DeepAutoencoder, x, batch_size: int = 1000) -> float:
    """The paper's figure: the squared error summed over the pixels of an image, averaged over
    the images of ``x`` (n, n_visible)."""
    x = _check(ae, x, "data")
    return (reconstruct(ae, x, batch_size) - x).pow(2).sum(1).mean().item()


def fine_tune(ae: DeepAutoencoder, x, *, epochs: int = 50, optimizer: str = "adam", lr: float = 1e-3,
              momentum: float = 0.9, weight_decay: float = 0.0, batch_size: int = 100,
              lr_schedule: Schedule = "cosine", lbfgs_steps: int = 3, seed: int = 0, valid=None,
              restore_best: bool = False, device=None, progress: bool = True,
              callbacks: Sequence = ()) -> TrainResult:
    """Fine-tune ``ae`` in place by backprop on its loss (``DeepAutoencoder.loss``) on the
    training loop (``pgmdbn.training.train``); the result's history has one metrics dict per epoch.

    ``optimizer``: "adam" (betas (momentum, 0.999); weight decay decoupled as in AdamW,
    Loshchilov & Hutter 2019), "sgd" (momentum ``momentum``) or "lbfgs"
    (``lbfgs_steps`` iterations with a strong-Wolfe line search per mini-batch, best with
    batches of ~1000, ``lr`` 1: close to the paper's conjugate gradients). ``lr_schedule``:
    None/"constant", "linear" or "cosine" (as in ``pgmdbn.fit``). ``weight_decay`` applies to
    the weights, not the biases; on small training sets it curbs the overfitting of the wide
    first and last layers (MNIST, 10k images, 25 epochs: AdamW 0.3 took the test error from 5.8
    to 5.5). Each epoch reports ``loss`` (mean per image over the epoch's batches), with
    ``valid`` (n, n_visible) also ``valid_error`` (the paper's squared error per image), and
    ``seconds``; ``callbacks`` are called as ``cb(ae, epoch, metrics)``. ``restore_best``
    (needs ``valid``) ends on the parameters of the epoch with the lowest ``valid_error`` (early
    stopping). A diverged epoch raises ``TrainingDiverged`` with the parameters of the last
    good epoch restored.

    ``x`` may also be a ``Dataset`` of rows (batched by a seeded shuffling ``DataLoader``) or
    any iterable of batches (arrays, one-array tuples or {"x"} dicts), read once per epoch (see
    ``pgmdbn.training.batches``).
    """
    if optimizer not in ("adam", "sgd", "lbfgs"):
        raise ValueError(f"optimizer must be 'adam', 'sgd' or 'lbfgs', got {optimizer!r}")
    if restore_best and valid is None:
        raise ValueError("restore_best needs validation data: pass valid=")
    validation.seed(seed)
    validation.nonnegative_float("lr", lr)
    validation.nonnegative_float("weight_decay", weight_decay)
    validation.nonnegative_float("momentum", momentum)
    device = validation.device(device) or next(ae.parameters()).device
    ae.to(device)
    streamed = is_stream(x)
    if streamed:
        source = batches(x, batch_size, seed)

        def prepare(raw):
            raw = raw["x"] if isinstance(raw, dict) else raw[0] if isinstance(raw, (list, tuple)) else raw
            return {"x": _check(ae, raw, "a training batch").to(device)}
    else:
        x = _check(ae, x, "training data").to(device)
    if valid is not None:
        valid = _check(ae, valid, "validation data")
    groups = param_groups(ae.parameters(), weight_decay)
    # Adam with decoupled weight decay (AdamW): an L2 term would be rescaled per weight
    opt = make_optimizer({"adam": "adamw"}.get(optimizer, optimizer), groups, lr, momentum, lbfgs_steps)
    penalty = optimizer == "lbfgs" and weight_decay  # L-BFGS takes no weight decay: the loss gets it

    def loss(batch):
        value = ae.loss(batch["x"]).mean()
        return value + weight_decay / 2 * sum(w.pow(2).sum() for w in groups[0]["params"]) if penalty else value

    return train(ae, source if streamed else {"x": x}, loss, opt, epochs=epochs, batch_size=batch_size, seed=seed,
                 lr_schedule=lr_schedule, prepare=prepare if streamed else None,
                 evaluate=(lambda e: {"valid_error": reconstruction_error(ae, valid)}) if valid is not None else None,
                 score="valid_error" if valid is not None else None, restore_best=restore_best,
                 callbacks=callbacks, progress=progress, what="fine-tuning")


@torch.no_grad()
def pca_baseline(train, test, k: int = 30) -> tuple[float, Tensor]:
    """Reconstruct ``test`` (m, d) from its projection on the first ``k`` principal components
    of ``train`` (n, d) (centred on the training mean; SVD of the centred training data).

    Returns ``(error, reconstructions)``: the squared error per test image (summed over pixels,
    averaged over images) and the (m, d) reconstructions.
    """
    train, test = torch.as_tensor(train).double(), torch.as_tensor(test).double()
    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise DataError(f"pca_baseline needs (n, d) and (m, d) arrays, got {tuple(train.shape)} and "
                        f"{tuple(test.shape)}")
    if not 1 <= k <= min(train.shape):
        raise ValueError(f"k must lie in 1..{min(train.shape)}, got {k}")
    mean = train.mean(0)
    _, _, vt = torch.linalg.svd(train - mean, full_matrices=False)  # rows of vt: principal directions
    basis = vt[:k]
    recon = (test - mean) @ basis.T @ basis + mean
    return (recon - test).pow(2).sum(1).mean().item(), recon.float()


# --- binary codes for semantic hashing -----------------------------------------------------

class CodeNoise(nn.Module):
    """Adds N(0, std²) noise to its input in training passes (train mode with gradients on);
    evaluation (``torch.no_grad()`` or ``eval()``) passes the input through unchanged.

    Put in front of the logistic code units, it makes them binary: to get information through
    the noise, fine-tuning learns code inputs far from 0, where the logistic saturates
    (Salakhutdinov & Hinton 2009 used fixed "deterministic" noise of variance 16 to suit
    conjugate gradients; here each pass draws fresh noise from a seeded generator, which
    mini-batch Adam tolerates)."""

    def __init__(self, std: float = 4.0, seed: int = 0):
        super().__init__()
        if std < 0:
            raise ValueError(f"noise std must be non-negative, got {std}")
        self.std, self.seed = float(std), int(seed)
        self.generator: torch.Generator | None = None  # made on the first input's device

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and torch.is_grad_enabled()) or self.std == 0:
            return x
        if self.generator is None or self.generator.device != x.device:
            self.generator = torch.Generator(device=x.device).manual_seed(self.seed)
        return x + self.std * torch.randn(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)

    def extra_repr(self) -> str:
        return f"std={self.std}, seed={self.seed}"


def _code_block(ae: DeepAutoencoder) -> nn.Sequential:
    """The encoder's last block, checked to end in logistic code units."""
    block = ae.encoder[-1]
    if not isinstance(block[-1], nn.Sigmoid):
        raise UnsupportedModel("binary codes need logistic code units: build the stack with code='bernoulli' "
                               f"(this code layer's activation is {type(block[-1]).__name__})")
    return block


def add_code_noise(ae: DeepAutoencoder, std: float = 4.0, seed: int = 0) -> DeepAutoencoder:
    """Put ``CodeNoise(std, seed)`` between the code units' linear map and their logistic (or
    reset the one already there), so that ``fine_tune`` makes the codes binary. Returns ``ae``."""
    block = _code_block(ae)
    if isinstance(block[1], CodeNoise):
        block[1] = CodeNoise(std, seed)
    else:
        ae.encoder[-1] = nn.Sequential(block[0], CodeNoise(std, seed), block[-1])
    return ae


@torch.no_grad()
def encode(ae: DeepAutoencoder, x, batch_size: int = 1000) -> Tensor:
    """Codes (n, n_code) of ``x`` (n, n_visible), in batches, without noise; on the CPU."""
    device = next(ae.parameters()).device
    x = torch.as_tensor(x).float()
    return torch.cat([ae.encode(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def binary_codes(ae: DeepAutoencoder, x, threshold: float = 0.5, batch_size: int = 1000) -> Tensor:
    """bool (n, n_code): the logistic code units of ``x`` thresholded at ``threshold``."""
    _code_block(ae)
    return encode(ae, x, batch_size) > threshold
