"""Packaging for Incoming!!, the large-upload server."""

from setuptools import find_packages, setup

setup(
    name="incoming",
    version="0.2.0.dev0",
    description="Takes large file uploads off web applications: resumable WebSocket uploads, "
    "handed over to the web-app backend when complete.",
    long_description=open("README.rst", encoding="utf-8").read(),
    long_description_content_type="text/x-rst",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["incoming", "incoming.*"]) + ["twisted.plugins"],
    package_data={
        "incoming": ["static/*.js", "static/*.mjs", "static/*.d.ts", "static/demo/*"],
    },
    install_requires=[
        # The fast receive path relies on internals of these two (incoming/internals.py checks
        # them at start-up and falls back to their public APIs); proven on 26.10 of each.
        "Twisted[tls]>=24.7,<27",
        "autobahn>=24.4,<27",
        "treq>=24.9",
        "attrs>=23.1",
        "service-identity>=24.1",
        "prometheus-client>=0.20",
        # --state redis://: run in a thread pool of its own (incoming/registry/redis.py says why)
        "redis>=5.0,<9",
        # S3-compatible object storage (--storage s3://…): signing and the S3 API from botocore.
        "botocore>=1.34,<2",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-twisted>=1.14",
            "hypothesis>=6.100",
            "standardwebhooks>=1.0",
            "tuspy==1.1.0",
            "Flask>=3.0,<4",  # examples/flask, tested end to end
            "moto[server]>=5.0,<6",
            "boto3>=1.34,<2",
            "ruff>=0.6",
            "mypy>=1.11",
            "mypy-zope>=1.0",
        ],
        # examples/flask: the example web app's own needs (boto3 only for S3 storage).
        "examples": [
            "Flask>=3.0,<4",
            "standardwebhooks>=1.0",
        ],
    },
    entry_points={},
    classifiers=[
        "Framework :: Twisted",
        "Programming Language :: Python :: 3.11",
        "Topic :: Internet :: WWW/HTTP",
    ],
)
