# The two commands a new user needs; each sets up what it needs first.
.PHONY: demo test test-fast bench lint screenshots mutation model aws-image aws-deploy aws-ui aws-teardown

demo:  ## set up, then run the whole pipeline on the embedded stack (Ctrl-C stops it)
	./scripts/bootstrap.sh
	.venv/bin/txviz demo

test:  ## set up (incl. chromium), then run every test, end-to-end ones included
	./scripts/bootstrap.sh --browser
	.venv/bin/pytest

test-fast:  ## unit and integration tests only
	.venv/bin/pytest -m "not e2e"

bench:  ## the benchmarks in bench/ (numbers for the README)
	.venv/bin/python bench/bench_convert.py
	.venv/bin/python bench/bench_replay.py
	.venv/bin/python bench/bench_stack.py
	.venv/bin/python bench/bench_processor.py
	.venv/bin/python bench/bench_scorer.py
	.venv/bin/python bench/bench_fraud.py
	.venv/bin/python bench/bench_cardstore.py
	.venv/bin/python bench/bench_latency.py
	.venv/bin/python bench/bench_demo.py

model:  ## retrain the fraud model the processor ships with (lambda/fraud_model.json)
	./scripts/bootstrap.sh
	.venv/bin/txviz train-model

mutation:  ## mutation-test the guard modules (slow; lists the surviving mutants)
	./scripts/mutation.sh

screenshots:  ## re-render docs/dashboard.png in headless chromium
	TXVIZ_UPDATE_SCREENSHOTS=1 .venv/bin/pytest txviz_pipeline_tests/serving/test_dashboard_browser.py

lint:
	.venv/bin/ruff check .
	.venv/bin/cfn-lint infra/template.yaml infra/dagster-ecs.yaml

# Dagster on ECS Fargate (infra/dagster-ecs.yaml, after infra/template.yaml; see infra/README.md).
aws-image:  ## build the Dagster image from the Dockerfile and push it to ECR
	./scripts/dagster-ecs.sh image

aws-deploy:  ## create or update the Dagster stack with the image aws-image pushed
	./scripts/dagster-ecs.sh deploy

aws-ui:  ## port-forward the Dagster UI on AWS to http://127.0.0.1:3000
	./scripts/dagster-ecs.sh ui

aws-teardown:  ## delete the Dagster stack, then the txviz stack; says what is kept
	./scripts/dagster-ecs.sh teardown --all
