"""Symbolic derivation: from a network and its values to step records.

The pipeline reads top to bottom:

1. forward pass: each neuron's ``z = Σ w·a + b`` and ``a = f(z)``;
2. loss: each output's term, each sample's sum, the batch's mean;
3. backward pass, output layer first: ``∂L/∂a`` (from the loss, or summed over the
   paths through the next layer), ``∂a/∂z`` (SymPy's derivative of the activation),
   their product ``∂L/∂z``, then for every parameter ``∂z/∂θ`` and the chain product;
4. the average over the batch, and the update ``θ⁺ = θ − η ∂L/∂θ``.

Every local factor is obtained by ``sympy.diff`` of a local expression (never of
the nested loss), and its value is read from :class:`~derive.network.Values`, which
evaluated the same forms for whole layers at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from . import catalog
from .forms import Partial, Shown, product, substitute, total
from .matrix import layer_form
from .network import Network, Values
from .steps import Average, Block, ChainProduct, Given, PathSum, Section, Step, Update


@dataclass(frozen=True)
class Derivation:
    """The step records of one solution and the numbers behind them."""

    network: Network
    values: Values
    sections: tuple[Section, ...]
    listed: bool  # every neuron and parameter written out (else: the layer form)

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every step with a value, in order (layer-form statements excluded)."""
        return tuple(step for section in self.sections for block in section.blocks
                     for step in block.steps if isinstance(step, Step))


def partial_name(num: sp.Symbol, den: sp.Symbol) -> str:
    return f"d{num.name}/d{den.name}"


class _Builder:
    """Builds the step records of one network; holds the symbol → number table."""

    def __init__(self, network: Network, values: Values):
        self.net = network
        self.values = values
        self.shown = _Numbers(self)
        self._given()

    # -- numbers ------------------------------------------------------------
    def _given(self) -> None:
        net = self.net
        self.given = {"W": net.parameter_value, "b": net.parameter_value,
                      "x": lambda key: self.values.x[key[1], key[2]],
                      "y": lambda key: self.values.y[key[1], key[2]],
                      "eta": lambda key: net.problem.learning_rate}

    def known(self, symbol: sp.Symbol, value: float) -> float:
        self.shown[symbol] = Shown(value)
        return value

    def know_layer(self, l: int) -> None:
        """Make a layer's values available to substitutions (when not every step is listed)."""
        arrays = self.values.layers[l]
        for s in range(self.net.samples):
            for j in range(self.net.widths[l + 1]):
                self.known(self.net.symbol("z", s, l, j), arrays.z[s, j])
                self.known(self.net.symbol("a", s, l, j), arrays.a[s, j])

    def step(self, cls, key, lhs, formula, value, name=None, **extra) -> Step:
        """A record whose substituted form replaces every known symbol by its number."""
        return cls(key=key, name=name or _plain(lhs), lhs=lhs, formula=formula,
                   substituted=substitute(formula, self.shown), value=float(value), **extra)

    def partial(self, num, den, key, formula, value) -> tuple[Partial, Step]:
        lhs = Partial(num, den)
        record = self.step(Step, key, lhs, formula, value)
        self.shown[lhs] = Shown(value)
        return lhs, record

    # -- 1. forward pass ---------------------------------------------------------
    def pre_activation_term(self, s: int, l: int, j: int, k: int) -> sp.Expr:
        """Term ``k`` of ``z_j``: ``w_jk · input_k``, or the bias for k = the number of inputs."""
        net = self.net
        if k < net.widths[l]:
            return product(net.param_symbol(("W", l, j, k)), net.input_symbol(s, l, k))
        return net.param_symbol(net.bias_id(l, j))

    def pre_activation_formula(self, s: int, l: int, j: int) -> sp.Expr:
        terms = self.net.widths[l] + (self.net.bias_id(l, j) is not None)
        return total(*(self.pre_activation_term(s, l, j, k) for k in range(terms)))

    def pre_activation_slope(self, s: int, l: int, j: int, k: int,
                             symbol: sp.Symbol) -> sp.Expr:
        """``∂z_j/∂symbol`` by ``sympy.diff`` of term ``k`` of ``z_j``, the one term that
        holds the symbol (the others do not depend on it), however wide the layer."""
        return sp.diff(self.pre_activation_term(s, l, j, k), symbol)

    def activation_formula(self, s: int, l: int, j: int) -> sp.Expr:
        net = self.net
        z = net.symbol("z", s, l, j)
        layer = net.problem.layers[l]
        if layer.activation == "softmax":
            zs = tuple(net.symbol("z", s, l, i) for i in range(net.widths[l + 1]))
            return catalog.softmax_shown(z, zs)
        return catalog.ACTIVATIONS[layer.activation].shown(z, net.activation_parameter(l))

    def forward(self, s: int, l: int) -> Section:
        net, arrays = self.net, self.values.layers[l]
        blocks = []
        for j in range(net.widths[l + 1]):
            z, a = net.symbol("z", s, l, j), net.symbol("a", s, l, j)
            z_step = self.step(Step, ("z", s, l, j), z, self.pre_activation_formula(s, l, j),
                               self.known(z, arrays.z[s, j]))
            blocks.append((z, a, z_step))
        # Activations after every pre-activation: softmax needs all of the layer's z.
        return Section("forward", tuple(
            Block(a, (z_step, self.step(Step, ("a", s, l, j), a, self.activation_formula(s, l, j),
                                        self.known(a, self.values.layers[l].a[s, j]))))
            for j, (z, a, z_step) in enumerate(blocks)), layer=l, sample=s)

    # -- 2. loss ---------------------------------------------------------------------
    def loss(self, s: int) -> Section:
        net, values = self.net, self.values
        K = net.widths[-1]
        generic = catalog.loss_term(net.problem.loss, K, net.log_base)
        steps = []
        for k in range(K):
            term = net.symbol("loss_term", s, k)
            formula = generic.xreplace({catalog.Y: net.symbol("y", s, k),
                                        catalog.A: net.symbol("a", s, net.depth - 1, k)})
            steps.append(self.step(Step, ("loss_term", s, k), term, formula,
                                   self.known(term, values.loss_terms[s, k])))
        sample_loss = net.symbol("loss_sample", s)
        if K > 1:
            formula = total(*[net.symbol("loss_term", s, k) for k in range(K)])
            steps.append(self.step(Step, ("loss_sample", s), sample_loss, formula,
                                   self.known(sample_loss, values.loss_samples[s])))
        return Section("loss", (Block(sample_loss, tuple(steps)),), sample=s)

    def batch_loss(self) -> Section:
        net = self.net
        terms = total(*[net.symbol("loss_sample", s) for s in range(net.samples)])
        formula = (product(sp.Rational(1, net.samples), terms)
                   if net.problem.reduction == "mean" else terms)
        loss = net.symbol("loss")
        step = self.step(Step, ("loss",), loss, formula, self.known(loss, self.values.loss))
        return Section("loss", (Block(loss, (step,)),))

    # -- 3. backward pass ------------------------------------------------------------
    def backward(self, s: int, l: int, neurons=None, params=None) -> Section:
        """One layer's backward pass for sample ``s``: a block per neuron.

        Args:
            neurons: the neurons to write out (all when None).
            params: the parameters whose chain products to write (all when None).
        """
        net = self.net
        width = net.widths[l + 1]
        neurons = range(width) if neurons is None else neurons
        blocks = [self.neuron_backward(s, l, j, params, first=index == 0)
                  for index, j in enumerate(neurons)]
        shared = net.bias_id(l, 0)
        if shared is not None and len(shared) == 2 and (params is None or shared in params):
            blocks.append(self.shared_bias(s, l))
        return Section("backward", tuple(blocks), layer=l, sample=s)

    def neuron_backward(self, s: int, l: int, j: int, params, *, first: bool = True) -> Block:
        net, arrays = self.net, self.values.layers[l]
        loss = net.symbol("loss_sample", s)
        z, a = net.symbol("z", s, l, j), net.symbol("a", s, l, j)
        steps: list[Step] = []
        softmax = net.problem.layers[l].activation == "softmax"

        # ∂L/∂a: from the loss at the output, else summed over the next layer's paths.
        # Under softmax every output's z reaches the loss through every a_k: the ∂L/∂a_k
        # are written in the first block and reused by the others.
        if l == net.depth - 1:
            if softmax:
                if first:
                    steps += [self.loss_gradient(s, k) for k in range(net.widths[-1])]
            else:
                steps.append(self.loss_gradient(s, j))
        else:
            steps += self.hidden_paths(s, l, j)

        # ∂a/∂z, and ∂L/∂z: a product (elementwise) or a sum over outputs (softmax).
        if softmax:
            paths, reused = [], []
            for k in range(net.widths[-1]):
                a_k = net.symbol("a", s, l, k)
                same = k == j
                formula = catalog.softmax_jacobian(a_k, a if not same else a_k, same)
                lhs, record = self.partial(a_k, z, ("da/dz", s, l, k, j), formula,
                                           arrays.da_dz[s, k, j])
                steps.append(record)
                paths.append(product(Partial(loss, a_k), lhs))
                reused.append(Partial(loss, a_k))
            delta = Partial(loss, z)
            steps.append(self.step(PathSum, ("delta", s, l, j), delta, total(*paths),
                                   arrays.delta[s, j], reused=tuple(reused)))
        else:
            activation = catalog.ACTIVATIONS[net.problem.layers[l].activation]
            formula = activation.derivative(net.activation_parameter(l)).xreplace(
                {catalog.Z: z, catalog.A: a})
            dadz, record = self.partial(a, z, ("da/dz", s, l, j, j), formula, arrays.da_dz[s, j])
            steps.append(record)
            delta = Partial(loss, z)
            steps.append(self.step(ChainProduct, ("delta", s, l, j), delta,
                                   product(Partial(loss, a), dadz), arrays.delta[s, j]))
        self.shown[delta] = Shown(arrays.delta[s, j])

        # Every parameter of the neuron: ∂z/∂θ, then the chain product.
        own = [("W", l, j, k) for k in range(net.widths[l])]
        bias = net.bias_id(l, j)
        if bias is not None and len(bias) == 3:
            own.append(bias)
        for pid in own:
            if params is None or pid in params:
                steps += self.parameter_chain(s, l, j, pid, softmax)
        return Block(a, tuple(steps))

    def loss_gradient(self, s: int, k: int) -> Step:
        net = self.net
        l = net.depth - 1
        a = net.symbol("a", s, l, k)
        generic = catalog.loss_derivative(net.problem.loss, net.widths[-1], net.log_base)
        formula = generic.xreplace({catalog.Y: net.symbol("y", s, k), catalog.A: a})
        _, record = self.partial(net.symbol("loss_sample", s), a, ("dL/da", s, l, k), formula,
                                 self.values.layers[l].dL_da[s, k])
        return record

    def hidden_paths(self, s: int, l: int, j: int) -> list[Step]:
        """``∂L/∂a_j = Σ_k ∂L/∂z_k · ∂z_k/∂a_j`` over the neurons k of the next layer."""
        net = self.net
        loss, a = net.symbol("loss_sample", s), net.symbol("a", s, l, j)
        steps, paths, reused = [], [], []
        for k in range(net.widths[l + 2]):
            z_next = net.symbol("z", s, l + 1, k)
            local = self.pre_activation_slope(s, l + 1, k, j, a)
            lhs, record = self.partial(z_next, a, ("dz/da", s, l + 1, k, j), local,
                                       net.W[l + 1][k, j])
            steps.append(record)
            paths.append(product(Partial(loss, z_next), lhs))
            reused.append(Partial(loss, z_next))
            self.shown[Partial(loss, z_next)] = Shown(self.values.layers[l + 1].delta[s, k])
        steps.append(self.step(PathSum, ("dL/da", s, l, j), Partial(loss, a), total(*paths),
                               self.values.layers[l].dL_da[s, j], reused=tuple(reused)))
        self.shown[Partial(loss, a)] = Shown(self.values.layers[l].dL_da[s, j])
        return steps

    def parameter_chain(self, s: int, l: int, j: int, pid: tuple, softmax: bool) -> list[Step]:
        net = self.net
        loss = net.symbol("loss_sample", s)
        z, a = net.symbol("z", s, l, j), net.symbol("a", s, l, j)
        theta = net.param_symbol(pid)
        local = self.pre_activation_slope(s, l, j, pid[3] if pid[0] == "W" else net.widths[l],
                                          theta)
        value = 1.0 if pid[0] == "b" else (
            self.values.x[s, pid[3]] if l == 0 else self.values.layers[l - 1].a[s, pid[3]])
        dz, record = self.partial(z, theta, ("dz/d" + pid[0], s, *pid[1:]), local, value)
        if softmax:
            factors = (Partial(loss, z), dz)
            reused = (Partial(loss, z),)
        else:
            factors = (Partial(loss, a), Partial(a, z), dz)
            reused = (Partial(loss, a), Partial(a, z))
        gradient = self.step(ChainProduct, ("grad_sample", s, *pid), Partial(loss, theta),
                             product(*factors), net.per_sample_gradient(self.values, pid)[s],
                             reused=reused)
        return [record, gradient]

    def shared_bias(self, s: int, l: int) -> Block:
        """A bias shared by a layer reaches the loss through each of its neurons."""
        net = self.net
        loss, bias = net.symbol("loss_sample", s), net.param_symbol(("b", l))
        steps, paths, reused = [], [], []
        for j in range(net.widths[l + 1]):
            z = net.symbol("z", s, l, j)
            dz, record = self.partial(z, bias, ("dz/db", s, l, j), sp.Integer(1), 1.0)
            steps.append(record)
            paths.append(product(Partial(loss, z), dz))
            reused.append(Partial(loss, z))
        value = net.per_sample_gradient(self.values, ("b", l))[s]
        steps.append(self.step(PathSum, ("grad_sample", s, "b", l), Partial(loss, bias),
                               total(*paths), value, reused=tuple(reused)))
        return Block(bias, tuple(steps))

    # -- 4. batch average and update -----------------------------------------------------
    def average(self, pids) -> Section:
        net = self.net
        loss = net.symbol("loss")
        blocks = []
        for pid in pids:
            theta = net.param_symbol(pid)
            terms = total(*[Partial(net.symbol("loss_sample", s), theta)
                            for s in range(net.samples)])
            for s in range(net.samples):
                self.shown[Partial(net.symbol("loss_sample", s), theta)] = Shown(
                    net.per_sample_gradient(self.values, pid)[s])
            formula = (product(sp.Rational(1, net.samples), terms)
                       if net.problem.reduction == "mean" else terms)
            step = self.step(Average, ("grad", *pid), Partial(loss, theta), formula,
                             self.values.gradients[pid])
            blocks.append(Block(theta, (step,)))
        return Section("gradients", tuple(blocks))

    def update(self, pids) -> Section:
        net = self.net
        loss, eta = net.symbol("loss"), net.symbol("eta")
        blocks = []
        for pid in pids:
            if not net.updates(pid):
                continue
            theta = net.param_symbol(pid)
            self.shown[Partial(loss, theta)] = Shown(self.values.gradients[pid])
            new = sp.Symbol(theta.name + "+")
            net.notation.latex[new] = f"{{{net.notation.latex[theta]}}}^{{+}}"
            net.notation.typst[new] = f"#${net.notation.typst[theta]}$^+"
            formula = sp.Add(theta, -product(eta, Partial(loss, theta)), evaluate=False)
            step = self.step(Update, ("updated", *pid), new, formula, self.values.updated[pid])
            blocks.append(Block(theta, (step,)))
        return Section("update", tuple(blocks))


class _Numbers(dict):
    """Symbol → shown number; numbers given by the problem are looked up on demand.

    Computed values are stored as they are found; a parameter, input, target or the
    learning rate is only turned into a :class:`Shown` when a formula needs it, so
    a network with thousands of parameters costs nothing for those not printed.
    """

    def __init__(self, builder: _Builder):
        super().__init__()
        self.builder = builder

    def _given_key(self, symbol):
        key = self.builder.net.key_of(symbol)
        return key if key is not None and key[0] in self.builder.given else None

    def __contains__(self, symbol) -> bool:
        return dict.__contains__(self, symbol) or self._given_key(symbol) is not None

    def get(self, symbol, default=None):  # Atom.xreplace looks up with .get
        return self[symbol] if symbol in self else default

    def __missing__(self, symbol):
        key = self._given_key(symbol)
        if key is None:
            raise KeyError(symbol)
        value = self.builder.given[key[0]](key)
        shown = self[symbol] = Shown(value, given=True)
        return shown


def _plain(lhs: sp.Expr) -> str:
    if isinstance(lhs, Partial):
        return partial_name(lhs.num, lhs.den)
    return lhs.name


def derive(network: Network, values: Values | None = None) -> Derivation:
    """Write the whole solution as step records.

    Args:
        network: the problem's network.
        values: its evaluated pass (computed when None).

    Returns:
        The :class:`Derivation`; for networks with more parameters than the problem's
        ``max_listed_parameters``, only the parameters in ``show`` (by default the
        first weight of each layer) are written out factor by factor.
    """
    values = values if values is not None else network.evaluate()
    builder = _Builder(network, values)
    problem = network.problem
    listed = len(network.parameters) <= problem.max_listed_parameters
    if listed:
        chosen = None
    else:
        chosen = _shown_parameters(network)

    sections: list[Section] = []
    if listed:
        for s in range(network.samples):
            sections += [builder.forward(s, l) for l in range(network.depth)]
        sections += [builder.loss(s) for s in range(network.samples)]
    else:
        sections += _layer_form(builder)
        for l in sorted({pid[1] for pid in chosen}):
            builder.know_layer(l)
            if l > 0:
                builder.know_layer(l - 1)
    if network.samples > 1:
        sections.append(builder.batch_loss())
    for s in range(network.samples):
        for l in reversed(range(network.depth)):
            if listed:
                sections.append(builder.backward(s, l))
            else:
                neurons = sorted({pid[2] for pid in chosen if pid[1] == l and len(pid) > 2})
                params = [pid for pid in chosen if pid[1] == l]
                if params:
                    sections.append(builder.backward(s, l, neurons, params))
    pids = network.parameters if listed else chosen
    if network.samples > 1:
        sections.append(builder.average(pids))
    sections.append(builder.update(pids))
    return Derivation(network, values, tuple(sections), listed)


def _shown_parameters(network: Network) -> tuple[tuple, ...]:
    by_name = {name.plain: pid for pid, name in network.param_names.items()}
    if network.problem.show:
        return tuple(by_name[name] for name in network.problem.show)
    return tuple(("W", l, 0, 0) for l in range(network.depth))


def _layer_form(builder: _Builder) -> list[Section]:
    """For large networks: the output layer's values, written without every term."""
    net, values = builder.net, builder.values
    l = net.depth - 1
    builder.know_layer(l)  # softmax needs every z of the layer
    forward = []
    for s in range(net.samples):
        blocks = []
        for j in range(net.widths[-1]):
            z, a = net.symbol("z", s, l, j), net.symbol("a", s, l, j)
            blocks.append(Block(a, (
                Given(("z", s, l, j), z.name, z, z, builder.shown[z], values.layers[l].z[s, j]),
                builder.step(Step, ("a", s, l, j), a, builder.activation_formula(s, l, j),
                             values.layers[l].a[s, j]))))
        forward.append(Section("forward", tuple(blocks), layer=l, sample=s))
    return [layer_form(net)] + forward + [builder.loss(s) for s in range(net.samples)]
