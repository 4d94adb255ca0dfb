# `make demo`: set up .venv (mmcv without compiled operators unless the full
# build is already there), pretrain the CPU demo MAE, write its checkpoint,
# a reconstruction figure and the published checkpoint (weights only,
# loadable without the plugin) under work_dirs/demo.
# `make test`: set up .venv with mmcv's CPU operators (built from source on
# the first run) and the test dependencies, run the test suite.
# `make setup-full`: mmcv's CPU operators without the test dependencies
# (mmdet / mmseg models need them).
PY := .venv/bin/python
# The tests run in a random order (pytest-randomly); `make test SEED=N`
# repeats the order of an earlier run.
ifeq ($(SEED),)
SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif
DEMO_CONFIG := configs/mae/mae_vit-tiny-p8_1xb32-coslr_demo-photos.py
DEMO_DIR := work_dirs/demo

.PHONY: setup setup-full setup-tests demo test

setup:
	bash tools/setup_env.sh

setup-full:
	bash tools/setup_env.sh --full

setup-tests:
	bash tools/setup_env.sh --tests

demo: setup
	$(PY) tools/dataset_converters/prepare_demo_photos.py --out-dir data/demo_photos
	$(PY) tools/train.py $(DEMO_CONFIG) --work-dir $(DEMO_DIR)
	$(PY) tools/visualize_reconstruction.py $(DEMO_CONFIG) \
		$(DEMO_DIR)/epoch_30.pth data/demo_photos/astronaut.jpg \
		--img-size 96 96 --scale 3 --out-file $(DEMO_DIR)/reconstruction.png
	$(PY) tools/model_converters/publish_model.py $(DEMO_DIR)/epoch_30.pth \
		$(DEMO_DIR)/mae_vit-tiny-p8_demo-photos.pth

test: setup-tests
	@echo "test order: --randomly-seed=$(SEED) (make test SEED=$(SEED) repeats it)"
	$(PY) -m pytest tests -q --randomly-seed=$(SEED)
