"""The fraud model: trained on the curated Parquet, checked against the current one, published.

``fraud_model`` trains a candidate and stores it under ``models/fraud/versions/``; its blocking
check ``not_worse_than_current`` compares it with the model the processor uses now, on the
candidate's own validation window; only if it passes does ``published_fraud_model`` point the
processor at it (``models/fraud/current.json``, read by the Lambda within a minute).
"""

import dagster as dg
import numpy as np

from txviz_pipeline.defs.compaction.assets import transactions_parquet
from txviz_pipeline.defs.resources import AwsResource

CHECK_NAME = "not_worse_than_current"


@dg.asset(
    deps=[transactions_parquet],
    group_name="fraud",
    kinds={"lightgbm", "s3"},
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset="fraud_model",
            blocking=True,
            description="The candidate's PR-AUC on its validation window is at least the "
            "current model's on the same rows; otherwise it is not published.",
        )
    ],
)
def fraud_model(context: dg.AssetExecutionContext, aws: AwsResource):
    """A LightGBM fraud model over per-card history features, trained on the past of the
    curated transactions and validated on their most recent window; stored as a candidate."""
    from txviz_pipeline.fraud import dataset, registry, report, train  # noqa: PLC0415
    from txviz_pipeline.fraud.evaluation import evaluate  # noqa: PLC0415
    from txviz_pipeline.fraud.export import model_document  # noqa: PLC0415
    from txviz_pipeline.fraud.processor_modules import treemodel  # noqa: PLC0415

    settings = aws.settings()
    s3 = aws.client("s3")
    data = dataset.build(dataset.read_curated(settings))
    context.log.info("training on %d curated transactions (%d fraud)", len(data), data.y.sum())
    try:
        trained = train.train(data)
    except ValueError as exc:
        raise dg.Failure(description=f"cannot train the fraud model: {exc}") from None
    document = model_document(
        trained.booster,
        version=trained.version,
        threshold=trained.threshold,
        metadata=trained.metadata(),
    )
    key = registry.put_version(s3, settings.bucket, document)

    _, recent = train.split(data)
    current_doc, current_source = registry.current_document(s3, settings.bucket)
    current_model = treemodel().TreeModel(current_doc)
    comparable = list(current_model.features) == list(document["features"])
    curves = {f"candidate {trained.version}": trained.validation_scores}
    points = {f"candidate {trained.version}": trained.validation}
    metadata: dict[str, object] = {
        "version": trained.version,
        "key": key,
        **report.evaluation_metadata("", trained.validation),
        "precision_target": trained.precision_target,
        "precision_target_met": trained.target_met,
        "confusion_matrix": dg.MetadataValue.md(report.confusion_markdown(trained.validation)),
        "feature_importance": dg.MetadataValue.md(report.importance_markdown(trained.importance)),
        "training_rows": trained.train_rows,
        "validation_rows": len(recent),
        "trees": trained.booster.num_trees(),
        "train_window": " to ".join(trained.metadata()["train_window"]),
        "validation_window": " to ".join(trained.metadata()["validation_window"]),
        "current_version": current_model.version,
        "current_source": current_source,
    }
    if comparable:
        current_scores = np.array([current_model.predict(list(row)) for row in recent.X])
        current_eval = evaluate(recent.y, current_scores, current_model.threshold)
        metadata.update(report.evaluation_metadata("current_", current_eval))
        curves[f"current {current_model.version}"] = current_scores
        points[f"current {current_model.version}"] = current_eval
        passed = trained.validation.pr_auc >= current_eval.pr_auc
        verdict = (
            f"PR-AUC {trained.validation.pr_auc:.4f} vs the current model's "
            f"{current_eval.pr_auc:.4f} on the same {len(recent):,} rows"
        )
    else:
        passed = True
        verdict = (
            f"the current model {current_model.version} reads other features "
            f"({len(current_model.features)}); the candidate replaces it"
        )
    metadata["pr_curve"] = dg.MetadataValue.md(report.pr_curve_markdown(recent.y, curves, points))
    context.log.info("candidate %s: %s", trained.version, verdict)
    yield dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_NAME,
                passed=passed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=("publishable: " if passed else "not published: ") + verdict,
                metadata={"candidate": trained.version, "current": current_model.version},
            )
        ],
    )


@dg.asset(deps=[fraud_model], group_name="fraud", kinds={"s3"})
def published_fraud_model(context: dg.AssetExecutionContext, aws: AwsResource):
    """The model the processor scores with: the latest candidate that passed its check."""
    from txviz_pipeline.fraud import registry  # noqa: PLC0415

    event = context.instance.get_latest_materialization_event(fraud_model.key)
    if event is None or event.asset_materialization is None:
        raise dg.Failure(description="fraud_model has never been materialized")
    version = event.asset_materialization.metadata["version"].value
    pointer = registry.publish(aws.client("s3"), aws.settings().bucket, str(version))
    context.log.info("processor now scores with %s", pointer["key"])
    return dg.MaterializeResult(metadata={"version": pointer["version"], "key": pointer["key"]})
