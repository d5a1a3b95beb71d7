"""A synthesised mouth interior (cavity, teeth, tongue) drawn inside the parted lips.

Everything takes its colour and light from the portrait (lip colour for the
cavity and tongue, or a flesh red from the skin when the lips are painted; skin
brightness for the teeth, or the photo's own teeth), so the interior sits in
the photo's lighting instead of looking pasted on.  The layers are shaded
per column between the two lip lines, which keeps their position a smooth
function of the lip landmarks: no jumps between frames.  Only the opening
between the lips is touched, through an anti-aliased mask, so closing the
mouth gives back the source lips exactly.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.face import regions as R
from avatar.render.deform import JAW_MAX

SHIFT = 3  # sub-pixel bits for polygon drawing
# Tooth boundaries across the visible arch, in half mouth widths from the centre (the
# arch recedes, so teeth look narrower toward the corners).
TOOTH_EDGES = (0.0, 0.3, 0.52, 0.7)
UPPER_TOOTH_HEIGHT = 0.17  # visible upper incisors, in mouth widths, at most
LOWER_TOOTH_HEIGHT = 0.1
# Where the visible teeth taper away toward the corners, in half mouth widths: the lower
# arch sits inside the upper one, and a band of lower teeth from corner to corner reads as
# a grey denture rim.
UPPER_ARCH = (0.72, 0.92)
LOWER_ARCH = (0.45, 0.78)


# Refining a photo's own lip opening (landmarks often put the inner lip line inside a
# painted or dark lip, so a sealed mouth loses half a lip and bends into a frown).
OPEN_GAP = 0.03  # inner-lip gap (IOD) from which a photo counts as showing an opening
EDGE_DISTANCE = 12.0  # Lab distance from the lip's own colour where its edge is placed
EDGE_START = 5.0  # ... and where the rise toward it starts: the lip's true edge
EDGE_MARGIN = (1.0, 0.01)  # px + IOD share a refined lip edge stays inside the lip
MIN_CONTRAST = 20.0  # a column whose opening never gets this far from the lip is skipped
LIGHTER_WEIGHT = 0.25  # a lip's highlights are lighter than its reference: they count little


def refine_lip_opening(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Inner lip landmarks moved onto the lips' visible edges, for a photo with parted lips.

    Face trackers often place the inner lip line inside the lip (a strongly coloured or
    dark lip looks like mouth to them); sealed on such a line, the mouth loses that part
    of the lip.  Per inner-lip point, the column between the two inner lines is compared,
    in Lab, with the lip just beyond the landmark, and the landmark moves to where the
    colour starts to turn from lip to opening (less a small margin).  The opening only
    ever shrinks, and photos with closed lips are returned unchanged.
    ``image``: RGB uint8 the landmarks are in; ``xy``: (>= 468, 2) pixels.  Returns a copy.
    """
    xy = np.array(xy, np.float64, copy=True)
    iod = float(np.linalg.norm(xy[263] - xy[33]))
    up_in, lo_in = list(R.LIPS_UPPER_INNER), list(R.LIPS_LOWER_INNER)
    gaps = xy[lo_in[3:8], 1] - xy[up_in[3:8], 1]
    if iod <= 0 or float(gaps.max()) <= OPEN_GAP * iod:
        return xy
    h, w = image.shape[:2]
    box = np.concatenate([xy[list(R.LIPS_UPPER_OUTER)], xy[list(R.LIPS_LOWER_OUTER)]])
    x0, y0 = np.maximum(np.floor(box.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(box.max(0)).astype(int) + 3, [w, h])
    if x1 - x0 < 4 or y1 - y0 < 4:
        return xy
    lab = cv2.cvtColor(image[y0:y1, x0:x1].astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lab = cv2.blur(lab, (3, 1))  # three columns per profile: less noise, same edges

    def line(ids, x):
        p = xy[list(ids)]
        o = np.argsort(p[:, 0])
        return float(np.interp(x, p[o, 0], p[o, 1]))

    margin = EDGE_MARGIN[0] + EDGE_MARGIN[1] * iod
    moved = {}
    for k in range(1, len(up_in) - 1):
        iu, il = up_in[k], lo_in[k]
        x = 0.5 * (xy[iu, 0] + xy[il, 0])
        col = int(round(x)) - x0
        yu, yl = xy[iu, 1], xy[il, 1]
        if not 0 <= col < x1 - x0 or yl - yu < 3.0:
            continue
        prof = lab[:, col]
        sides = (
            (il, yl, line(R.LIPS_LOWER_OUTER, x), yu, -1.0),
            (iu, yu, line(R.LIPS_UPPER_OUTER, x), yl, 1.0),
        )
        for i, y_lm, y_out, y_other, step in sides:
            edge = _lip_edge(prof, y0, y_lm, y_out, y_other, step, margin)
            if edge is not None:
                moved[i] = edge
    if not moved:
        return xy
    # Columns that told nothing follow their neighbours (the corners stay), and a median of
    # three removes a lone misread: the edge is smooth along the lip.
    for ids in (lo_in, up_in):
        shift = np.array([moved.get(i, np.nan) - xy[i, 1] for i in ids], np.float64)
        shift[[0, -1]] = 0.0
        known = np.flatnonzero(~np.isnan(shift))
        shift = np.interp(np.arange(len(ids)), known, shift[known])
        smooth = np.median(np.stack([shift[:-2], shift[1:-1], shift[2:]]), axis=0)
        xy[list(ids[1:-1]), 1] += smooth
    return xy


def _lip_edge(
    prof: np.ndarray,
    y0: int,
    y_lm: float,
    y_out: float,
    y_other: float,
    step: float,
    margin: float,
) -> float | None:
    """Where one lip's colour ends, walking from its inner landmark ``y_lm`` toward the
    other lip's ``y_other`` (``step`` ±1 px), kept ``margin`` px inside the lip; None when
    the column tells lip from opening too weakly or the landmark already sits on the edge.
    ``prof``: Lab of one column, from row ``y0``; ``y_out``: the lip's outer edge."""
    n = len(prof)

    def rows(ys: np.ndarray) -> np.ndarray:
        return np.clip(np.round(ys).astype(int) - y0, 0, n - 1)

    # The lip's colour: just beyond the landmark, toward the lip's outer edge.
    depth = abs(y_out - y_lm)
    beyond = y_lm - step * np.arange(0.0, max(0.35 * depth, 2.0) + 1e-6)
    ref = np.median(prof[rows(beyond)], axis=0)
    ys = np.arange(y_lm, y_other, step)
    if len(ys) < 3:
        return None
    diff = prof[rows(ys)] - ref
    # Darker than the lip is mouth (cavity); lighter is mostly the lip's own sheen, unless
    # the colour changes too (teeth).
    dl = np.maximum(-diff[:, 0], 0.0) + LIGHTER_WEIGHT * np.maximum(diff[:, 0], 0.0)
    d = np.sqrt(dl**2 + diff[:, 1] ** 2 + diff[:, 2] ** 2)
    if float(d.max()) < MIN_CONTRAST:
        return None
    j = int(np.flatnonzero(d > EDGE_DISTANCE)[0])  # surely past the lip ...
    # ... and the edge is where that rise starts: a lip edge placed half-way into a soft
    # transition takes a sliver of teeth with it, which shows between the sealed lips.
    if j < 2:
        return None
    # (a textured lip's own variation raises that start)
    start = max(EDGE_START, min(float(np.median(d[:j])) + 2.0, 0.75 * EDGE_DISTANCE))
    calm = np.flatnonzero(d[:j] <= start)
    if not len(calm) or calm[-1] == 0:
        return None
    k = int(calm[-1])
    t = (start - d[k]) / max(float(d[k + 1] - d[k]), 1e-6)
    # Kept a margin inside the lip: over-sealing by a pixel hides the soft edge, which
    # would otherwise show as a pale line between the closed lips.
    edge = float(ys[k] + step * np.clip(t, 0.0, 1.0)) - step * margin
    return edge if (edge - y_lm) * step > 0 else None


def _smoothstep(x: np.ndarray | float, a: float, b: float):
    t = np.clip((np.asarray(x, np.float32) - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class MouthInterior:
    def __init__(self, image: np.ndarray, xy: np.ndarray, iod: float, mesh):
        self.iod = iod
        self.opening = mesh.mouth_opening
        self.mid_upper = mesh.mid_upper
        self.mid_lower = mesh.mid_lower
        src_gap = float(np.max(xy[list(R.LIPS_LOWER_INNER), 1] - xy[list(R.LIPS_UPPER_INNER), 1]))
        # A photo that already shows its teeth keeps them (they travel with the lips).
        self.synthetic_teeth = src_gap < 0.05 * iod
        self.lip = _mean_in(image, [xy[list(R.MOUTH_OUTER_CONTOUR)]], [xy[R.MOUTH_INNER_CONTOUR]])
        cheeks = [_disc(xy[205], 0.12 * iod), _disc(xy[425], 0.12 * iod)]
        self.skin = _mean_in(image, cheeks, [])
        lum = float(self.skin @ np.array([0.299, 0.587, 0.114]))
        light = float(np.clip(lum / 165.0, 0.45, 1.1))
        # Teeth: warm off-white, a little brighter than the skin but never paper white.
        teeth_lum = float(np.clip(0.55 * lum + 100.0, 95.0, 215.0))
        warm = 0.88 * np.array([1.0, 0.96, 0.88]) + 0.12 * self.lip / max(
            float(self.lip.max()), 1.0
        )
        self.teeth = (warm / (warm @ np.array([0.299, 0.587, 0.114])) * teeth_lum).astype(
            np.float32
        )
        # Inside the mouth nothing is painted: a blue or black lipstick must not tint the
        # cavity, the wet inner lip or the tongue (a grey-blue tongue reads as a flat band).
        flesh = natural_lip_colour(self.lip, self.skin)
        # A dark, warm cavity: mostly shadow, a little of the lip colour.
        self.cavity = np.clip(0.22 * flesh + np.array([34.0, 8.0, 8.0]) * light, 0, 255).astype(
            np.float32
        )
        self.inner_lip = np.clip(0.55 * flesh, 0, 255).astype(np.float32)
        # The tongue is redder and darker than the lips: in the lip colour it reads as a
        # brown smear, and a face tracker takes it for the lower lip (the mouth looks shut).
        self.tongue = np.clip(
            flesh * np.array([0.7, 0.42, 0.45]) + np.array([18.0, 0.0, 4.0]) * light, 0, 255
        ).astype(np.float32)
        # Lower teeth match the photo's own teeth when it shows them (synthetic ones were a
        # shade greyer beside them); otherwise the synthetic colour, warmed by the tongue.
        own = None if self.synthetic_teeth else _photo_teeth(image, xy)
        if own is not None:
            self.lower_teeth = own.astype(np.float32)
        else:
            self.lower_teeth = (0.75 * self.teeth + 0.25 * self.tongue).astype(np.float32)
        # Image sharpness: faces rendered small get a softer interior, like their lips.
        self.soften = float(np.clip(0.9 - 0.004 * iod, 0.45, 0.9))
        self.max_gap = JAW_MAX * iod

    def draw(self, patch: np.ndarray, dst: np.ndarray) -> None:
        inner = dst[self.opening]
        a, b = R.LIPS_UPPER_INNER[0], R.LIPS_UPPER_INNER[-1]
        upper = dst[[a, *self.mid_upper, b]]
        lower = dst[[a, *self.mid_lower, b]]
        gap = float(np.max(lower[3:8, 1] - upper[3:8, 1]))
        if gap < 0.8:
            return
        # How far the jaw is open is the whole lip separation, not just the new gap: on a
        # photo that shows its teeth the new gap is only part of it, and the tongue and
        # lower teeth would never come in (a flat black crescent under the photo's teeth).
        lips = dst[list(R.LIPS_LOWER_INNER[3:8]), 1] - dst[list(R.LIPS_UPPER_INNER[3:8]), 1]
        openness = float(np.clip(max(gap, float(lips.max())) / self.max_gap, 0, 1))
        h, w = patch.shape[:2]
        x0 = max(0, int(np.floor(inner[:, 0].min())) - 3)
        y0 = max(0, int(np.floor(inner[:, 1].min())) - 3)
        x1 = min(w, int(np.ceil(inner[:, 0].max())) + 4)
        y1 = min(h, int(np.ceil(inner[:, 1].max())) + 4)
        if x1 - x0 < 3 or y1 - y0 < 3:
            return
        off = np.array([x0, y0], np.float64)
        rw, rh = x1 - x0, y1 - y0

        mask = np.zeros((rh, rw), np.uint8)
        pts = np.round((inner - off) * (1 << SHIFT)).astype(np.int32)
        cv2.fillPoly(mask, [pts], 255, cv2.LINE_AA, SHIFT)
        alpha = cv2.GaussianBlur(mask, (0, 0), 0.6).astype(np.float32) / 255.0
        layer = self.layer(upper - off, lower - off, gap, (rw, rh), openness)
        roi = patch[y0:y1, x0:x1].astype(np.float32)
        a = alpha[..., None]
        patch[y0:y1, x0:x1] = np.clip(roi * (1 - a) + layer * a + 0.5, 0, 255).astype(np.uint8)

    def layer(
        self,
        upper: np.ndarray,
        lower: np.ndarray,
        gap: float,
        size: tuple[int, int],
        openness: float | None = None,
    ) -> np.ndarray:
        """The interior's colours over a (h, w) box; lip lines are in box pixels."""
        rw, rh = size
        xs = np.arange(rw, dtype=np.float32)
        yy = np.arange(rh, dtype=np.float32)[:, None]
        order_u = np.argsort(upper[:, 0])
        order_l = np.argsort(lower[:, 0])
        top = np.interp(xs, upper[order_u, 0], upper[order_u, 1]).astype(np.float32)[None]
        bot = np.interp(xs, lower[order_l, 0], lower[order_l, 1]).astype(np.float32)[None]
        span = np.maximum(bot - top, 1.0)
        mouth_w = float(max(upper[-1, 0] - upper[0, 0], 4.0))
        cx = float((upper[0, 0] + upper[-1, 0]) / 2)
        u = ((xs - cx) / (0.5 * mouth_w))[None]  # -1 ... 1 across the mouth
        au = np.abs(u)
        if openness is None:
            openness = float(np.clip(gap / self.max_gap, 0, 1))

        # Cavity: darkest at the back (between the lip lines) and toward the corners.
        depth = np.clip((yy - top) / span, 0, 1)
        back = 1.0 - 4.0 * depth * (1 - depth)  # 1 at the lips, 0 at the back
        shade = (0.45 + 0.55 * back) * (1.0 - 0.45 * np.clip(au, 0, 1) ** 2)
        layer = self.cavity[None, None, :] * shade[..., None]

        notch = self._tooth_gaps(u, mouth_w)
        # Lower teeth peek over the lower lip on wide vowels. How wide is the whole lip
        # separation (a photo's own teeth already fill part of the opening, so its new gap
        # alone would let them in only at the widest); how tall, the new gap.
        wide = gap / self.max_gap if self.synthetic_teeth else max(gap / self.max_gap, openness)
        hl = 0.0
        if wide > 0.3:
            hl = min(LOWER_TOOTH_HEIGHT * mouth_w, 0.3 * gap)
            hl *= float(_smoothstep(wide, 0.3, 0.75))
        hu = min(UPPER_TOOTH_HEIGHT * mouth_w, 0.55 * gap + 0.5) if self.synthetic_teeth else 0.0
        if openness > 0.15:  # the tongue rests low behind the lower teeth
            rise = float(_smoothstep(openness, 0.15, 0.7))
            # It shows above the lower teeth in the room the upper teeth leave (all of the
            # new gap when the photo's own teeth ride with the upper lip).
            t_h = max(0.42 * gap * rise, hl + 0.5 * rise * max(gap - hu - hl, 0.0))
            t_top = bot - t_h * np.sqrt(np.clip(1 - (u / 0.78) ** 2, 0, 1))
            ta = np.clip(yy - t_top + 0.5, 0, 1) * (au < 0.85)
            t_shade = 0.7 + 0.3 * np.clip((yy - t_top) / max(t_h, 1.0), 0, 1)
            t_shade = t_shade * (1.0 - 0.35 * au**2)
            tongue = self.tongue[None, None, :] * t_shade[..., None]
            layer = layer + (tongue - layer) * ta[..., None]

        # Inner lips: a soft, darker wet band along both lip lines.
        band = max(0.9, 0.015 * self.iod)
        edge = np.exp(-np.minimum(yy - top, bot - yy).clip(0) / band)
        layer = layer + (self.inner_lip[None, None, :] - layer) * (0.35 * edge)[..., None]
        if hl > 0:  # in the lip's shadow; the lower arch is narrower: no teeth at the corners
            layer = self._teeth(
                layer, yy, bot, -hl, u, notch, 0.85, self.lower_teeth, corners=LOWER_ARCH
            )
        if hu > 0:
            layer = self._teeth(layer, yy, top, hu, u, notch, 1.0, self.teeth)
        if hl > 0:  # the lower lip's shadow: its inner edge stays a clear line over the teeth
            lip_shadow = np.exp(-np.clip(bot - yy, 0, None) / max(0.7, 0.05 * gap))
            layer = layer * (1.0 - 0.4 * lip_shadow)[..., None]

        if self.soften > 0.5:
            layer = cv2.GaussianBlur(layer, (0, 0), self.soften)
        return layer

    def _tooth_gaps(self, u: np.ndarray, mouth_w: float) -> np.ndarray:
        """0 on a tooth, up to 1 on the thin gap between two teeth."""
        width = max(0.8 / (0.5 * mouth_w), 0.012)
        edges = np.array(TOOTH_EDGES[1:], np.float32)
        d = np.min(np.abs(np.abs(u)[..., None] - edges), axis=-1)
        centre = np.abs(u)  # the gap between the two central incisors
        d = np.minimum(d, centre)
        return np.exp(-((d / width) ** 2))

    def _teeth(
        self,
        layer,
        yy,
        line,
        height,
        u,
        notch,
        light: float,
        colour: np.ndarray,
        corners: tuple[float, float] = UPPER_ARCH,
    ) -> np.ndarray:
        """A band of teeth hanging from ``line`` (height > 0) or standing on it (< 0);
        ``corners``: where across the mouth (half widths) the band tapers away."""
        if abs(height) < 0.7:
            return layer
        au = np.abs(u)
        arch = np.clip(1.0 - 0.35 * au**2, 0, 1) * (1.0 - _smoothstep(au, *corners))
        h = abs(height) * arch * (1.0 - 0.1 * notch)  # rounded incisal corners
        dist = (yy - line) if height > 0 else (line - yy)  # from the lip toward the edge
        a = np.clip(h - dist + 0.5, 0, 1) * np.clip(dist + 1.5, 0, 1)
        t = np.clip(dist / np.maximum(h, 1.0), 0, 1)
        vertical = 0.8 + 0.2 * _smoothstep(t, 0.0, 0.4)  # the lip's shadow at the root
        vertical = vertical * (1.0 - 0.12 * _smoothstep(t, 0.75, 1.0))  # translucent edge
        shade = light * vertical * (1.0 - 0.45 * au**2) * (1.0 - 0.15 * notch)
        teeth = colour[None, None, :] * shade[..., None]
        return layer + (teeth - layer) * a[..., None]


def natural_lip_colour(lip: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """The lip's colour where it is a lip colour; toward a flesh red from the skin where the
    lips are painted (blue, green, black, white), so the inside of the mouth stays flesh."""
    lip = np.asarray(lip, np.float64)
    skin = np.asarray(skin, np.float64)
    red = float(lip[0] - max(lip[1], lip[2])) / max(float(lip[0]), 1.0)
    flesh = skin * np.array([0.95, 0.62, 0.62])  # skin in lip light: redder, a bit darker
    keep = float(_smoothstep(red, 0.02, 0.15))  # natural lips are clearly red-dominant
    return keep * lip + (1.0 - keep) * flesh


def _photo_teeth(image: np.ndarray, xy: np.ndarray) -> np.ndarray | None:
    """The colour of the teeth a photo shows between its lips, or None where the opening
    holds too few teeth-like pixels (bright, nearly colourless) to tell."""
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(xy[list(R.MOUTH_INNER_CONTOUR)]).astype(np.int32)], 1)
    pixels = image[mask.astype(bool)].reshape(-1, 3).astype(np.float64)
    if len(pixels) < 24:
        return None
    lum = pixels @ np.array([0.299, 0.587, 0.114])
    top, bottom = pixels.max(1), pixels.min(1)
    toothy = (lum >= 90.0) & ((top - bottom) <= 0.3 * np.maximum(top, 1.0))
    if toothy.sum() < max(12, 0.1 * len(pixels)):
        return None
    teeth = pixels[toothy]
    return np.median(teeth[lum[toothy] >= np.median(lum[toothy])], axis=0)


def _disc(c: np.ndarray, r: float) -> np.ndarray:
    ang = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    return np.stack([c[0] + r * np.cos(ang), c[1] + r * np.sin(ang)], 1)


def _mean_in(image: np.ndarray, include: list[np.ndarray], exclude: list[np.ndarray]) -> np.ndarray:
    m = np.zeros(image.shape[:2], np.uint8)
    for p in include:
        cv2.fillPoly(m, [np.round(p).astype(np.int32)], 1)
    for p in exclude:
        cv2.fillPoly(m, [np.round(p).astype(np.int32)], 0)
    if m.sum() < 4:
        return np.array([150.0, 80.0, 80.0])
    return image[m.astype(bool)].reshape(-1, 3).astype(np.float64).mean(0)
