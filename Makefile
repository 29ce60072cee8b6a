# Every target creates .venv when it is missing and installs the project into it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo venv clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench,train,beam]'
	# the official gRPC protos; its `tensorflow` requirement would add a second TensorFlow next to tensorflow-cpu
	$(BIN)/pip install -q --no-deps tensorflow-serving-api==2.21.0
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q tests

demo: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/alphanet matte alphanet_tf/assets/samples -o out --output all --overwrite
	@echo "results in out/"

bench: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python benchmarks/train_step.py

clean:
	rm -rf $(VENV) out build *.egg-info
