# Set-up and everyday commands. Each target installs what it needs first.
PYTHON ?= python3

.PHONY: install demo test lint bench-quick bench

# torch's CPU build first where torch is missing: a bare requirement would pull a
# multi-GB CUDA build. An existing torch (CPU or CUDA) is kept.
install:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "torch==2.13.0"
	$(PYTHON) -m pip install -e ".[test]"

demo: install
	labtriage audit --demo --out labtriage-demo --force

# The tests also run labtriage sweep on a real local Ray cluster: the ray extra.
test: install
	$(PYTHON) -m pip install -e ".[ray]"
	$(PYTHON) -m pytest

lint:
	ruff check src tests
	ruff format --check src tests

# Benchmarks (bench/, results in bench/results/ and docs/benchmarks.md). Not part of CI.
# bench-quick: reduced grids, about 6 minutes on 2 CPU cores.
bench-quick:
	$(PYTHON) -m pip install -q -e ".[test,bench]"
	cd bench && $(PYTHON) quality.py --quick
	cd bench && $(PYTHON) robustness.py --quick
	cd bench && $(PYTHON) speed.py --rows 20000 --epochs 1 --repeats 1 --audit-sizes ""
	cd bench && $(PYTHON) epochs.py --quick
	cd bench && $(PYTHON) sweep.py --quick --datasets mild-3k
	cd bench && $(PYTHON) advise.py --quick
	cd bench && $(PYTHON) by.py --quick
	cd bench && $(PYTHON) scale.py --quick
	cd bench && $(PYTHON) calibration.py --quick

# bench: the full grids (simulated 250k rows, GB1, Mason, the strong-epistasis landscape; needs
# ../shared/data). Several hours on 2 CPU cores: acceptance 8 min, speed about 20 min, quality
# about 3 h 26 min, epochs about 16 min, sweep about 11 min (+4 min on Ray), the advice replay
# about 36 min (+1 to 4 min for each other counting of found flips; a second draw about 37 min, the held-out third about 30 min; five scenarios at 20,000 rows about 80 min), the stopping rules on its worlds (stopping.py) about 22 min, where the noise sits (by.py) about 50 min the first time, the scale benchmark
# about 55 min, the noise-estimate battery (calibration.py) about 70 min and its 5,000-row refits (--parts spread 2 min, --parts audit-refits 36 min), class-dependent noise
# (asymmetric.py) about 30 min, and robustness with 8 trainers on three datasets not yet timed end to end
# (docs/benchmarks.md, "How long the benchmarks take").
# A stopped quality run goes on with `cd bench && python quality.py --resume`.
ADVISE_20K = mild 20%, relabel 1x;mild 20%, relabel 3x;mild 20%, relabel 8x;mild 10%/30% by class, relabel 2x;strong 20%, relabel 2x

bench:
	$(PYTHON) -m pip install -q -e ".[test,bench]"
	cd bench && $(PYTHON) acceptance.py
	cd bench && $(PYTHON) speed.py --epochs 2 --audit-sizes 10000,50000,250000
	cd bench && $(PYTHON) quality.py
	cd bench && $(PYTHON) robustness.py
	cd bench && $(PYTHON) epochs.py
	cd bench && $(PYTHON) acceptance.py --budget 50000
	$(PYTHON) -m pip install -q -e ".[ray]"
	cd bench && $(PYTHON) sweep.py
	cd bench && $(PYTHON) sweep.py --datasets mild-20k --backend ray
	cd bench && $(PYTHON) advise.py --seeds 5
	cd bench && $(PYTHON) advise.py --repredict --found-flips measured
	cd bench && $(PYTHON) advise.py --repredict --found-flips whole
	cd bench && $(PYTHON) advise.py --seeds 5 --draw 1
	cd bench && $(PYTHON) advise.py --repredict --found-flips measured --draw 1
	cd bench && $(PYTHON) advise.py --repredict --found-flips whole --draw 1
	cd bench && $(PYTHON) advise.py --seeds 5 --draw 2
	cd bench && $(PYTHON) advise.py --repredict --found-flips measured --draw 2
	cd bench && $(PYTHON) advise.py --repredict --found-flips whole --draw 2
	cd bench && $(PYTHON) advise.py --seeds 5 --rows 20000 --scenarios "$(ADVISE_20K)"
	cd bench && $(PYTHON) advise.py --repredict --found-flips measured --rows 20000 --scenarios "$(ADVISE_20K)"
	cd bench && $(PYTHON) advise.py --repredict --found-flips whole --rows 20000 --scenarios "$(ADVISE_20K)"
	cd bench && $(PYTHON) advise_compare.py
	cd bench && $(PYTHON) advise.py --worth-levels 0.05,0.1,0.2
	cd bench && $(PYTHON) advise.py --worth-levels 0.05,0.1,0.2 --draw 1
	cd bench && $(PYTHON) advise.py --worth-levels 0.05,0.1,0.2 --draw 2
	cd bench && $(PYTHON) advise.py --thresholds --seeds 3 --scenarios "mild 10%/30% by class, relabel 2x;mild 20%, relabel 1x"
	cd bench && $(PYTHON) stopping.py
	cd bench && $(PYTHON) by.py
	cd bench && $(PYTHON) scale.py --audit-sizes 10000,100000,1000000
	cd bench && $(PYTHON) calibration.py
	cd bench && $(PYTHON) calibration.py --parts spread,audit-refits
	cd bench && $(PYTHON) asymmetric.py
