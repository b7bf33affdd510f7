"""The official MAT inference path, re-stated as plain functions over a state dict (test reference).

Independent of baselines/mat_networks.py: it reads every weight by its official key name, so a
misnamed or misplaced module there shows up as a KeyError or a difference here. It follows
``networks/mat.py``, ``networks/basic_module.py`` and the pure-torch reference paths of
``torch_utils/ops`` (fenglinglwb/MAT d273d89) step by step, with the official call order of the
random draws (first-stage dropout, second-stage dropout, then one noise map per noisy StyleConv).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

GAIN = float(np.sqrt(2))  # def_gain of 'lrelu' in bias_act.activation_funcs


class OfficialMAT:
    def __init__(self, state: dict[str, torch.Tensor], resolution: int):
        self.P, self.res_log2 = state, int(np.log2(resolution))

    # --- ops: bias_act._bias_act_ref, upfirdn2d._upfirdn2d_ref, conv2d_resample ---

    @staticmethod
    def act(x, b, dim=1, lrelu=True):
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
        return F.leaky_relu(x, 0.2) * GAIN if lrelu else x

    @staticmethod
    def upfirdn(x, f, up=1, down=1, pad=(0, 0, 0, 0), gain=1):
        n, c, h, w = x.shape
        x = x.reshape([n, c, h, 1, w, 1])
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape([n, c, h * up, w * up])
        px0, px1, py0, py1 = pad
        x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
        x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
        f = (f * gain).to(x.dtype).flip([0, 1])[np.newaxis, np.newaxis].repeat([c, 1, 1, 1])
        return F.conv2d(x, f, groups=c)[:, :, ::down, ::down]

    def conv_resample(self, x, w, f, up=1, down=1, padding=0, groups=1):
        cout, cin_g, kh, kw = w.shape
        fw = f.shape[-1]
        px0 = px1 = py0 = py1 = padding
        if up > 1:
            px0 += (fw + up - 1) // 2; px1 += (fw - up) // 2; py0 += (fw + up - 1) // 2; py1 += (fw - up) // 2
        if down > 1:
            px0 += (fw - down + 1) // 2; px1 += (fw - down) // 2; py0 += (fw - down + 1) // 2; py1 += (fw - down) // 2
        if down > 1 and up == 1:
            return F.conv2d(self.upfirdn(x, f, pad=(px0, px1, py0, py1)), w, stride=down, groups=groups)
        if up > 1:
            if groups == 1:
                w = w.transpose(0, 1)
            else:
                w = w.reshape(groups, cout // groups, cin_g, kh, kw).transpose(1, 2).reshape(groups * cin_g, cout // groups, kh, kw)
            px0 -= kw - 1; px1 -= kw - up; py0 -= kh - 1; py1 -= kh - up
            pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
            x = F.conv_transpose2d(x, w.flip([2, 3]), stride=up, padding=[pyt, pxt], groups=groups)
            return self.upfirdn(x, f, pad=(px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt), gain=up ** 2)
        return F.conv2d(x, w, padding=[py0, px0], groups=groups)

    # --- layers of basic_module.py / mat.py, by key prefix ---

    def fc(self, name, x, lrelu=False, lr=1.0):
        w = self.P[name + ".weight"]
        w = w * (lr / np.sqrt(w.shape[1]))
        b = self.P[name + ".bias"] * lr if lr != 1 else self.P[name + ".bias"]
        x = x.matmul(w.t())
        return self.act(x, b, dim=x.ndim - 1, lrelu=lrelu)

    def conv(self, name, x, up=1, down=1, lrelu=True):
        w = self.P[name + ".weight"]
        w = w * (1 / np.sqrt(w.shape[1] * w.shape[2] ** 2))
        x = self.conv_resample(x, w, self.P[name + ".resample_filter"], up, down, w.shape[-1] // 2)
        return self.act(x, self.P[name + ".bias"], lrelu=lrelu)

    def partial(self, name, x, mask, up=1, down=1):
        if mask is None:
            return self.conv(name + ".conv", x, up, down), None
        k = self.P[name + ".conv.weight"].shape[-1]
        update = F.conv2d(mask, torch.ones(1, 1, k, k), stride=down, padding=k // 2)
        ratio = k * k / (update + 1e-8)
        update = torch.clamp(update, 0, 1)
        return torch.mul(self.conv(name + ".conv", x, up, down), torch.mul(ratio, update)), update

    def modconv(self, name, x, style, demodulate=True, up=1):
        n, cin, h, w_ = x.shape
        w = self.P[name + ".weight"]
        cout, k = w.shape[1], w.shape[-1]
        style = self.fc(name + ".affine", style).view(n, 1, cin, 1, 1)
        weight = w * (1 / np.sqrt(cin * k * k)) * style
        if demodulate:
            weight = weight * (weight.pow(2).sum(dim=[2, 3, 4]) + 1e-8).rsqrt().view(n, cout, 1, 1, 1)
        x = self.conv_resample(x.view(1, n * cin, h, w_), weight.view(n * cout, cin, k, k),
                               self.P[name + ".resample_filter"], up=up, padding=k // 2, groups=n)
        return x.view(n, cout, *x.shape[2:])

    def styleconv(self, name, x, style, noise_mode, up=1):
        x = self.modconv(name + ".conv", x, style, up=up)
        if name + ".noise_const" in self.P:
            if noise_mode == "random":
                x = x + torch.randn([x.shape[0], 1, *x.shape[2:]]) * self.P[name + ".noise_strength"]
            if noise_mode == "const":
                x = x + self.P[name + ".noise_const"] * self.P[name + ".noise_strength"]
        return self.act(x, self.P[name + ".bias"])

    def torgb(self, name, x, style, skip):
        out = self.act(self.modconv(name + ".conv", x, style, demodulate=False), self.P[name + ".bias"], lrelu=False)
        if skip is not None:
            if skip.shape != out.shape:
                f = self.P[name + ".resample_filter"]
                skip = self.upfirdn(skip, f, up=2, pad=((f.shape[-1] + 1) // 2, (f.shape[-1] - 2) // 2) * 2, gain=4)
            out = out + skip
        return out

    # --- transformer (mat.py: WindowAttention, SwinTransformerBlock, BasicLayer) ---

    @staticmethod
    def partition(x, ws):
        b, h, w, c = x.shape
        return x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws, ws, c)

    @staticmethod
    def reverse(win, ws, h, w):
        b = int(win.shape[0] / (h * w / ws / ws))
        return win.view(b, h // ws, w // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)

    def calc_mask(self, h, w, ws, shift):
        img = torch.zeros((1, h, w, 1))
        cnt = 0
        for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
            for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                img[:, hs, wsl, :] = cnt
                cnt += 1
        mw = self.partition(img, ws).view(-1, ws * ws)
        am = mw.unsqueeze(1) - mw.unsqueeze(2)
        return am.masked_fill(am != 0, float(-100.0)).masked_fill(am == 0, float(0.0))

    def attention(self, name, x, mask_windows, mask, heads=6):
        b_, n, c = x.shape
        nx = F.normalize(x, p=2.0, dim=-1)
        q = self.fc(name + ".q", nx).reshape(b_, n, heads, c // heads).permute(0, 2, 1, 3)
        k = self.fc(name + ".k", nx).view(b_, -1, heads, c // heads).permute(0, 2, 3, 1)
        v = self.fc(name + ".v", x).view(b_, -1, heads, c // heads).permute(0, 2, 1, 3)
        attn = (q @ k) * (c // heads) ** -0.5
        if mask is not None:
            nw = mask.shape[0]
            attn = (attn.view(b_ // nw, nw, heads, n, n) + mask.unsqueeze(1).unsqueeze(0)).view(-1, heads, n, n)
        if mask_windows is not None:
            amw = mask_windows.squeeze(-1).unsqueeze(1).unsqueeze(1)
            attn = attn + amw.masked_fill(amw == 0, float(-100.0)).masked_fill(amw == 1, float(0.0))
            mask_windows = torch.clamp(torch.sum(mask_windows, dim=1, keepdim=True), 0, 1).repeat(1, n, 1)
        x = (torch.softmax(attn, dim=-1) @ v).transpose(1, 2).reshape(b_, n, c)
        return self.fc(name + ".proj", x), mask_windows

    def swin(self, name, x, x_size, mask, input_res, window, shift):
        if min(input_res) <= window:
            shift, window = 0, min(input_res)
        h, w = x_size
        b, l, c = x.shape
        shortcut = x
        x = x.view(b, h, w, c)
        if mask is not None:
            mask = mask.view(b, h, w, 1)
        if shift > 0:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
            if mask is not None:
                mask = torch.roll(mask, shifts=(-shift, -shift), dims=(1, 2))
        xw = self.partition(x, window).view(-1, window * window, c)
        mw = self.partition(mask, window).view(-1, window * window, 1) if mask is not None else None
        am = self.calc_mask(h, w, window, shift) if shift > 0 else None  # list != Size: always recomputed
        aw, mw = self.attention(name + ".attn", xw, mw, am)
        x = self.reverse(aw.view(-1, window, window, c), window, h, w)
        if mask is not None:
            mask = self.reverse(mw.view(-1, window, window, 1), window, h, w)
        if shift > 0:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
            if mask is not None:
                mask = torch.roll(mask, shifts=(shift, shift), dims=(1, 2))
        x = x.view(b, h * w, c)
        if mask is not None:
            mask = mask.view(b, h * w, 1)
        x = self.fc(name + ".fuse", torch.cat([shortcut, x], dim=-1), lrelu=True)
        return self.fc(name + ".mlp.fc2", self.fc(name + ".mlp.fc1", x, lrelu=True)), mask

    @staticmethod
    def t2f(x, size):
        b, n, c = x.shape
        return x.permute(0, 2, 1).reshape(b, c, size[0], size[1])

    @staticmethod
    def f2t(x):
        b, c, h, w = x.shape
        return x.view(b, c, -1).transpose(1, 2)

    def basic_layer(self, name, x, x_size, mask, depth, input_res, window, ratio):
        if ratio != 1:
            up, down = (int(ratio), 1) if ratio > 1 else (1, int(1 / ratio))
            feat = self.t2f(x, x_size)
            fmask = self.t2f(mask, x_size) if mask is not None else None
            feat, fmask = self.partial(name + ".downsample.conv", feat, fmask, up=up, down=down)
            x_size = (int(x_size[0] * ratio), int(x_size[1] * ratio))
            x = self.f2t(feat)
            mask = self.f2t(fmask) if mask is not None else None
        identity = x
        for i in range(depth):
            x, mask = self.swin(f"{name}.blocks.{i}", x, x_size, mask, input_res, window, 0 if i % 2 == 0 else window // 2)
        if mask is not None:
            mask = self.t2f(mask, x_size)
        x, mask = self.partial(name + ".conv", self.t2f(x, x_size), mask)
        x = self.f2t(x) + identity
        if mask is not None:
            mask = self.f2t(mask)
        return x, x_size, mask

    # --- FirstStage, SynthesisNet, MappingNet, Generator ---

    def first_stage(self, images, masks, ws, noise_mode):
        p = "synthesis.first_stage"
        x = torch.cat([masks - 0.5, images * masks], dim=1)
        skips = []
        x, mask = self.partial(p + ".conv_first", x, masks)
        skips.append(x)
        down_time = self.res_log2 - 6
        for i in range(down_time):
            x, mask = self.partial(f"{p}.enc_conv.{i}", x, mask, down=2)
            if i != down_time - 1:
                skips.append(x)
        x_size = x.size()[-2:]
        x, mask = self.f2t(x), self.f2t(mask)
        res = 64
        for i, (depth, ratio, window) in enumerate(zip([2, 3, 4, 3, 2], [1, 1 / 2, 1 / 2, 2, 2], [8, 16, 16, 16, 8])):
            res = int(res * ratio)
            name = f"{p}.tran.{i}"
            if i < 2:
                x, x_size, mask = self.basic_layer(name, x, x_size, mask, depth, [res, res], window, ratio)
                skips.append(x)
            elif i > 2:
                x, x_size, _ = self.basic_layer(name, x, x_size, None, depth, [res, res], window, ratio)
                x = x + skips[2 - i]
            else:
                x, x_size, _ = self.basic_layer(name, x, x_size, None, depth, [res, res], window, ratio)
                mul_map = F.dropout(torch.ones_like(x) * 0.5, training=True)
                w = self.fc(p + ".ws_style", ws[:, -1], lrelu=True)
                add_n = self.fc(p + ".to_square", w, lrelu=True).unsqueeze(1)
                add_n = F.interpolate(add_n, size=x.size(1), mode="linear", align_corners=False).squeeze(1).unsqueeze(-1)
                x = x * mul_map + add_n * (1 - mul_map)
                g = self.t2f(x, x_size)
                for j in range(4):
                    g = self.conv(f"{p}.down_conv.{j}", g, down=2)
                gs = self.fc(p + ".to_style", F.adaptive_avg_pool2d(g, (1, 1)).flatten(start_dim=1), lrelu=True)
                style = torch.cat([gs, w], dim=1)
        x = self.t2f(x, x_size).contiguous()
        img = None
        for i in range(down_time):
            name = f"{p}.dec_conv.{i}"
            x = self.styleconv(name + ".conv0", x, style, noise_mode, up=2) + skips[down_time - i - 1]
            x = self.styleconv(name + ".conv1", x, style, noise_mode)
            img = self.torgb(name + ".toRGB", x, style, img)
        return img * (1 - masks) + images * masks

    def synthesis(self, images, masks, ws, noise_mode):
        out_stg1 = self.first_stage(images, masks, ws, noise_mode)
        x = torch.cat([masks - 0.5, images * masks + out_stg1 * (1 - masks), images * masks], dim=1)
        feats = {}
        for i in range(self.res_log2, 3, -1):
            name = f"synthesis.enc.EncConv_Block_{2 ** i}x{2 ** i}"
            x = self.conv(name + ".conv0", x, down=1 if i == self.res_log2 else 2)
            x = feats[i] = self.conv(name + ".conv1", x)
        fea_16 = feats[4]
        mul_map = F.dropout(torch.ones_like(fea_16) * 0.5, training=True)
        add_n = self.fc("synthesis.to_square", ws[:, 0], lrelu=True).view(-1, 16, 16).unsqueeze(1)
        add_n = F.interpolate(add_n, size=fea_16.size()[-2:], mode="bilinear", align_corners=False)
        fea_16 = feats[4] = fea_16 * mul_map + add_n * (1 - mul_map)
        g = fea_16
        for j in range(3):
            g = self.conv(f"synthesis.to_style.conv.{j}", g, down=2)
        gs = self.fc("synthesis.to_style.fc", F.adaptive_avg_pool2d(g, 1).flatten(start_dim=1), lrelu=True)
        d = "synthesis.dec.Dec_16x16"
        x = self.conv(d + ".conv0", fea_16) + feats[4]
        x = self.styleconv(d + ".conv1", x, torch.cat([ws[:, 0], gs], dim=1), noise_mode)
        img = self.torgb(d + ".toRGB", x, torch.cat([ws[:, 1], gs], dim=1), None)
        for res in range(5, self.res_log2 + 1):
            d = f"synthesis.dec.Dec_{2 ** res}x{2 ** res}"
            x = self.styleconv(d + ".conv0", x, torch.cat([ws[:, res * 2 - 9], gs], dim=1), noise_mode, up=2)
            x = x + feats[res]
            x = self.styleconv(d + ".conv1", x, torch.cat([ws[:, res * 2 - 8], gs], dim=1), noise_mode)
            img = self.torgb(d + ".toRGB", x, torch.cat([ws[:, res * 2 - 7], gs], dim=1), img)
        return img * (1 - masks) + images * masks

    def __call__(self, images, masks, z, noise_mode):
        x = z.to(torch.float32)
        x = x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for i in range(8):
            x = self.fc(f"mapping.fc{i}", x, lrelu=True, lr=0.01)
        ws = x.unsqueeze(1).repeat([1, self.res_log2 * 2 - 6, 1])
        return self.synthesis(images, masks, ws, noise_mode)


def official_init_state(model: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights distributed as the official constructors initialise them (randn weights, mapping
    weights / lr multiplier, affine biases 1), with small random biases and noise strengths so
    that every term matters; noise_const and the stored shift masks random too (the latter are
    never read by the official forward)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        randn = torch.randn(value.shape, generator=generator)
        if key.endswith("resample_filter"):
            state[key] = value.clone()
        elif key.startswith("mapping.fc") and key.endswith(".weight"):
            state[key] = randn / 0.01
        elif key.endswith("affine.bias"):
            state[key] = 1 + 0.1 * randn
        elif key.endswith((".bias", "noise_strength", "w_avg")):
            state[key] = 0.1 * randn
        else:
            state[key] = randn
    return state
