"""Synthetic demo and test videos: real packaged clips cut into many scenes, with needles.

Used by ``agentkit demo``, the evaluation generator, benchmarks and tests; not part of
perception (which only reads videos).

```python
from agentkit.demo_video import ImageNeedle, TextNeedle, synthesize_video

video = synthesize_video("demo.mp4", 60, size=(640, 360), needles=[ImageNeedle("chelsea", t0=20)])
print(video.needles)  # ground-truth spans
```
"""
from agentkit.demo_video.clips import default_cache_dir, packaged_clips
from agentkit.demo_video.needles import ImageNeedle, NeedleSpan, TextNeedle, render_sign
from agentkit.demo_video.synth import SyntheticVideo, synthesize_video

__all__ = [
    "ImageNeedle", "NeedleSpan", "SyntheticVideo", "TextNeedle", "default_cache_dir", "packaged_clips",
    "render_sign", "synthesize_video",
]
