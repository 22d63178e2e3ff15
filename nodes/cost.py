"""What a graph will cost before it runs: image sizes and batches as they flow, steps, prompts, outputs.

Torch-free: one pass over the graph in topological order. Each node's rule (``nodes.cost_rules``)
maps the shapes arriving on its inputs and its literal values to the shapes of its outputs, and
records what it costs (sampler steps, prompt tokens, images stored). ``cost_issues`` compares the
figures with a plan's limits. Where a size cannot be known here (an upscale model's factor), the
rule assumes the largest one a node can produce: an estimate is never below what will run.

Sizes are in pixels for images, masks and latents alike (a latent of an SD model holds 1/8 of the
pixels per side; the figure is the image it decodes to).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from nodes.graph import Graph, GraphIssue, is_link, needed_nodes, output_node_ids, topological_order
from nodes.registry import Registry
from nodes.schema import NodeSpec

IMAGE_KIND, MASK_KIND, LATENT_KIND = "image", "mask", "latent"
LIMIT_EXCEEDED = "limit_exceeded"


@dataclass(frozen=True)
class Pixels:
    """An IMAGE, MASK or LATENT value: the size of each image in pixels, and how many there are.

    `size_input` / `batch_input` name the input of the producing node that decided the size or
    the batch, for the message when it is over a limit.
    """

    kind: str
    width: int
    height: int
    batch: int
    size_input: str | None = None
    batch_input: str | None = None

    @property
    def area(self) -> int:
        return self.width * self.height

    def resized(self, width: float, height: float, size_input: str | None, kind: str | None = None) -> Pixels:
        w, h = max(1, math.ceil(width)), max(1, math.ceil(height))
        return replace(self, kind=kind or self.kind, width=w, height=h, size_input=size_input)

    def rebatched(self, batch: int, batch_input: str | None) -> Pixels:
        return replace(self, batch=max(1, batch), batch_input=batch_input)

    def as_kind(self, kind: str, via: str) -> Pixels:
        return replace(self, kind=kind, size_input=via, batch_input=via)


@dataclass(frozen=True)
class Conditioning:
    """A CONDITIONING value: how many entries (each one a UNet pass per step) and their prompt tokens."""

    entries: int
    tokens: int  # all entries together
    longest: int  # the longest entry
    prompts: int = 1  # how many encoded prompts went into it (combined, concatenated)


@dataclass(frozen=True)
class Measure:
    """One figure a limit applies to, where it arises."""

    measure: str  # a key of CostLimits: "latent_pixels", "steps", ...
    value: int
    node_id: str | None
    class_type: str | None
    input: str | None
    what: str  # "the latent would be 16384x16384 = 268.4 MP per image"
    # (limit, value) of what arrived at the node: a node fed something already over its limit is
    # not named again (the node upstream is).
    arriving: tuple[tuple[str, int], ...] = ()


@dataclass
class GraphCost:
    measures: list[Measure] = field(default_factory=list)
    output_images: int = 0
    sampling_work: float = 0.0  # megapixel-steps: sum of steps x batch x megapixels x passes
    nodes: int = 0
    graph_bytes: int = 0
    # What each node outputs, as the rules see it (Pixels, Conditioning, None ...), by node id.
    outputs: dict[str, tuple[Any, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class CostLimits:
    """Per execution. None: not limited (only for a figure the ceiling leaves open)."""

    latent_pixels: int | None = None
    image_pixels: int | None = None
    batch_size: int | None = None
    steps: int | None = None
    sampling_work: int | None = None  # megapixel-steps
    prompt_tokens: int | None = None
    output_images: int | None = None
    nodes: int | None = None
    graph_bytes: int | None = None


LIMIT_UNITS: dict[str, Callable[[int], str]] = {
    "latent_pixels": lambda v: f"{_mp(v)} per latent image",
    "image_pixels": lambda v: f"{_mp(v)} per image",
    "batch_size": lambda v: f"batches of {v:,}",
    "steps": lambda v: f"{v:,} steps per sampler",
    "sampling_work": lambda v: f"{v:,} megapixel-steps of sampling per execution",
    "prompt_tokens": lambda v: f"{v:,} prompt tokens",
    "output_images": lambda v: f"{v:,} output images per execution",
    "nodes": lambda v: f"{v:,} nodes",
    "graph_bytes": lambda v: f"graphs of {v:,} bytes",
}


class NodeCost:
    """What a rule sees of one node: literal values (defaults applied) and the shapes linked in."""

    def __init__(
        self,
        node_id: str,
        spec: NodeSpec,
        inputs: Mapping[str, Any],
        values: Mapping[str, Any],
        cost: GraphCost,
        image_sizes: Mapping[str, tuple[int, ...]],
        unknown_image: tuple[int, int],
    ) -> None:
        self.node_id = node_id
        self.spec = spec
        self._inputs = inputs
        self._values = values
        self._cost = cost
        self._image_sizes = image_sizes
        self.unknown_image = unknown_image

    def value(self, name: str) -> Any:
        raw = self._inputs.get(name)
        if raw is not None and not is_link(raw):
            return raw
        spec = self.spec.input(name)
        return spec.default if spec is not None else None

    def number(self, name: str) -> float:
        value = self.value(name)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0

    def is_linked(self, name: str) -> bool:
        return is_link(self._inputs.get(name))

    def linked(self, name: str) -> Any:
        """The value arriving on a linked input (Pixels, Conditioning), or None."""
        return self._values.get(name)

    def pixels(self, name: str) -> Pixels:
        value = self._values.get(name)
        if isinstance(value, Pixels):
            return value
        # Not known here (an optional input left out, an unknown upstream shape): the largest image.
        w, h = self.unknown_image
        return Pixels(IMAGE_KIND, w, h, 1, name, name)

    def largest(self, link_type: str) -> Pixels | None:
        """The largest image of a kind (for a shape not known here); None for other link types."""
        kind = {"IMAGE": IMAGE_KIND, "MASK": MASK_KIND, "LATENT": LATENT_KIND}.get(link_type)
        return Pixels(kind, *self.unknown_image, 1) if kind else None

    def image_size(self, reference: Any) -> tuple[int, int]:
        size = self._image_sizes.get(reference) if isinstance(reference, str) else None
        return (size[0], size[1]) if size else self.unknown_image

    def frames(self, reference: Any) -> int | None:
        """An uploaded video's frame count (its `image_sizes` entry is (width, height, frames))."""
        size = self._image_sizes.get(reference) if isinstance(reference, str) else None
        return size[2] if size and len(size) > 2 else None

    def measure(
        self,
        measure: str,
        value: int,
        input_name: str | None,
        what: str,
        *,
        arriving: tuple[tuple[str, int], ...] = (),
    ) -> None:
        self._cost.measures.append(
            Measure(measure, value, self.node_id, self.spec.class_type, input_name, what, arriving)
        )

    def add_output_images(self, count: int, input_name: str) -> None:
        self._cost.output_images += count
        self.measure(
            "output_images",
            self._cost.output_images,
            input_name,
            f"the execution would store {self._cost.output_images:,} images ({count:,} from this node)",
        )

    def add_sampling(self, *, steps: int, latent: Pixels, passes: float, input_name: str) -> None:
        work = steps * latent.batch * latent.area / 1e6 * passes
        self._cost.sampling_work += work
        total = self._cost.sampling_work
        self.measure(
            "sampling_work",
            math.ceil(total),
            input_name,
            f"sampling {steps:,} steps x {latent.batch:,} images x {_mp(latent.area)}"
            + (f" x {passes:g} conditioning passes" if passes != 1 else "")
            + f" = {work:,.0f} megapixel-steps ({total:,.0f} in this execution)",
        )


Rule = Callable[[NodeCost], tuple[Any, ...]]


def estimate_cost(
    graph: Graph,
    registry: Registry,
    *,
    rules: Mapping[str, Rule] | None = None,
    image_sizes: Mapping[str, tuple[int, ...]] | None = None,
    unknown_image: tuple[int, int] = (8192, 8192),
) -> GraphCost:
    """The cost of a graph that `validate_graph` accepted (links resolve, types match, no cycle).

    `image_sizes` maps a LoadImage reference to the uploaded file's (width, height), a LoadVideo one
    to (width, height, frames); a reference
    not in it, like any shape not known here, counts as `unknown_image`.
    """
    if rules is None:
        from nodes.cost_rules import RULES  # the rules import this module's types

        rules = RULES
    cost = GraphCost(nodes=len(graph), graph_bytes=graph_bytes(graph))
    targets = output_node_ids(graph, registry)
    order = topological_order(graph, needed_nodes(graph, targets))
    produced = cost.outputs
    for node_id in order:
        node = graph[node_id]
        spec = registry.get(node["class_type"])
        if spec is None:
            raise ValueError(f"node {node_id!r}: unknown class_type; validate the graph first")
        rule = rules.get(spec.class_type)
        inputs = node.get("inputs") or {}
        values: dict[str, Any] = {}
        for name, raw in inputs.items():
            if is_link(raw):
                outs = produced.get(raw[0], ())
                values[name] = outs[raw[1]] if raw[1] < len(outs) else None
        ctx = NodeCost(node_id, spec, inputs, values, cost, image_sizes or {}, unknown_image)
        if rule is None:
            # A node without a rule (a test of the catalogue keeps this from shipping): its images
            # are taken as large as any may be, never as free.
            outs = tuple(ctx.largest(o.type) for o in spec.outputs)
        else:
            outs = rule(ctx)
        produced[node_id] = outs
        _measure_shapes(ctx, values, outs)
    return cost


def _measure_shapes(ctx: NodeCost, values: Mapping[str, Any], outs: tuple[Any, ...]) -> None:
    """Record each shape this node makes larger than what came in: that is where a limit is crossed."""
    arriving = [v for v in values.values() if isinstance(v, Pixels)]
    sizes_in = tuple((_size_limit(v), v.area) for v in arriving)
    batches_in = tuple(("batch_size", v.batch) for v in arriving)
    measured: set[str] = set()
    for out in outs:
        if not isinstance(out, Pixels):
            continue
        measure = _size_limit(out)
        same = [area for limit, area in sizes_in if limit == measure]
        if measure not in measured and out.area > max(same, default=0):
            measured.add(measure)
            noun = "latent" if out.kind == LATENT_KIND else out.kind
            what = f"the {noun} would be {out.width}x{out.height} = {_mp(out.area)} per image"
            ctx.measure(measure, out.area, out.size_input, what, arriving=sizes_in)
        if "batch_size" not in measured and out.batch > max((b for _, b in batches_in), default=1):
            measured.add("batch_size")
            what = f"the batch would hold {out.batch:,} images"
            ctx.measure("batch_size", out.batch, out.batch_input, what, arriving=batches_in)


def _size_limit(value: Pixels) -> str:
    return "latent_pixels" if value.kind == LATENT_KIND else "image_pixels"


def size_issues(graph: Any, limits: CostLimits) -> list[LimitIssue]:
    """The graph-wide limits alone (node count, JSON bytes): checked even on a graph that cannot run."""
    count = len(graph) if isinstance(graph, Mapping) else 0
    return cost_issues(GraphCost(nodes=count, graph_bytes=graph_bytes(graph)), limits)


def cost_issues(cost: GraphCost, limits: CostLimits) -> list[LimitIssue]:
    """One `limit_exceeded` issue per node and limit crossed; graph-wide ones (no node) come last."""
    issues: list[LimitIssue] = []
    graph_wide = [
        Measure("nodes", cost.nodes, None, None, None, f"the graph has {cost.nodes:,} nodes"),
        Measure(
            "graph_bytes",
            cost.graph_bytes,
            None,
            None,
            None,
            f"the graph is {cost.graph_bytes:,} bytes of JSON",
        ),
    ]
    reported: set[tuple[str | None, str]] = set()
    totals_reported: set[str] = set()
    for m in [*cost.measures, *graph_wide]:
        allowed = getattr(limits, m.measure)
        if allowed is None or m.value <= allowed or (m.node_id, m.measure) in reported:
            continue
        if any(_over(limits, name, value) for name, value in m.arriving):
            continue  # it came in over a limit: the node upstream is the one named
        if m.measure in ("output_images", "sampling_work"):
            if m.measure in totals_reported:
                continue  # a running total: named once, at the node where it crosses the limit
            totals_reported.add(m.measure)
        reported.add((m.node_id, m.measure))
        where = (
            f"node {m.node_id} ({m.class_type})" + (f" input {m.input}" if m.input else "") + ": "
            if m.node_id
            else ""
        )
        message = f"{where}{m.what}; this plan allows {LIMIT_UNITS[m.measure](allowed)}."
        issues.append(
            LimitIssue(
                LIMIT_EXCEEDED,
                message[0].upper() + message[1:],
                m.node_id,
                m.class_type,
                m.input,
                limit=m.measure,
                value=m.value,
                allowed=allowed,
            )
        )
    return issues


def _over(limits: CostLimits, name: str, value: int) -> bool:
    allowed = getattr(limits, name)
    return allowed is not None and value > allowed


@dataclass(frozen=True)
class LimitIssue(GraphIssue):
    limit: str = ""
    value: int = 0
    allowed: int = 0

    def to_public(self) -> dict[str, Any]:
        return {**super().to_public(), "limit": self.limit, "value": self.value, "allowed": self.allowed}


def graph_bytes(graph: Any) -> int:
    """The size of the graph as compact JSON (what is stored and sent to a worker)."""
    return len(json.dumps(graph, separators=(",", ":"), ensure_ascii=False).encode())


def estimate_tokens(text: str) -> int:
    """An estimate of CLIP's token count that errs high, without its BPE (not loadable in the api).

    CLIP splits text into runs of letters, single digits and runs of other symbols, then BPE-merges
    each piece; a common English word is one token, and a character is at most one token per UTF-8
    byte. Counted here: a run of ASCII letters as one token per 4 letters (rounded up), each digit
    and ASCII symbol as one, any other character (accents, CJK, emoji) as its UTF-8 bytes. Ordinary
    prompts come out above CLIP's count; only runs of random letters can come out below it.
    """
    tokens = 0
    run = 0
    for char in text:
        if char.isascii() and char.isalpha():
            run += 1
            continue
        if run:
            tokens += -(-run // 4)
            run = 0
        if not char.isspace():
            tokens += 1 if char.isascii() else len(char.encode())
    if run:
        tokens += -(-run // 4)
    return tokens


def _mp(pixels: float) -> str:
    return f"{pixels / 1e6:.1f} MP"
