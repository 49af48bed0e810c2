# The two commands of the README.  Each sets up what it needs (.venv, system packages) first
# and can be run again at any time.  Without make: bash scripts/demo.sh / bash scripts/test.sh.
.PHONY: demo test setup example clean

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

setup:
	bash scripts/setup.sh

# rebuild aural/examples/ from fillets-ng-data-cs (apt-get install fillets-ng-data-cs)
example: setup
	.venv/bin/python scripts/make_example.py

clean:
	rm -rf out .pytest_cache
