"""
The OpenLineage JSON schema as openlineage-python carries it: the wheel ships no .json files, only
the models generated from the spec's schemas (openlineage/client/generated/*.py, attrs classes,
each naming the schema it came from). This reads those models and writes them back out as one
JSON Schema document: a $defs entry per class (required fields = fields without a default, field
types from the annotations, enums, the UUID / date-time / URI checks the models' validators make),
RunEvent as the root. Facet maps validate each facet by its key (errorMessage ->
ErrorMessageRunFacet, ...). Stricter than the spec in one way: no additional properties anywhere,
so a misspelt field fails.

Usage: python3 openlineage_models_schema.py <dir with openlineage/ and attr/> <out.json>
"""

import importlib
import json
import pkgutil
import sys
import types
import typing
from enum import Enum

root, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, root)

# Skip openlineage/client/__init__.py (it imports the HTTP client and its dependencies): the
# generated models need only attrs and openlineage.client.utils / constants.
for name, rel in (("openlineage", "openlineage"), ("openlineage.client", "openlineage/client")):
    module = types.ModuleType(name)
    module.__path__ = [f"{root}/{rel}"]
    sys.modules[name] = module

import attr  # noqa: E402

generated = importlib.import_module("openlineage.client.generated")
modules = {}
for info in pkgutil.iter_modules(generated.__path__):
    modules[info.name] = importlib.import_module(f"openlineage.client.generated.{info.name}")
base = modules["base"]

# The facet keys OpenLineage uses for each facet model (the key is in the spec's facet file, not the model).
FACET_KEYS = {
    "RunFacet": {
        "errorMessage": "error_message_run.ErrorMessageRunFacet",
        "parent": "parent_run.ParentRunFacet",
        "nominalTime": "nominal_time_run.NominalTimeRunFacet",
        "processing_engine": "processing_engine_run.ProcessingEngineRunFacet",
    },
    "JobFacet": {
        "jobType": "job_type_job.JobTypeJobFacet",
        "sql": "sql_job.SQLJobFacet",
        "documentation": "documentation_job.DocumentationJobFacet",
        "ownership": "ownership_job.OwnershipJobFacet",
    },
    "DatasetFacet": {
        "schema": "schema_dataset.SchemaDatasetFacet",
        "columnLineage": "column_lineage_dataset.ColumnLineageDatasetFacet",
        "symlinks": "symlinks_dataset.SymlinksDatasetFacet",
        "catalog": "catalog_dataset.CatalogDatasetFacet",
        "dataSource": "datasource_dataset.DatasourceDatasetFacet",
        "documentation": "documentation_dataset.DocumentationDatasetFacet",
    },
    "InputDatasetFacet": {
        "dataQualityAssertions": "data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet",
        "dataQualityMetrics": "data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet",
        "inputStatistics": "input_statistics_input_dataset.InputStatisticsInputDatasetFacet",
    },
    "OutputDatasetFacet": {
        "outputStatistics": "output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet",
    },
}

defs = {}


def def_name(cls):
    return f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"


def facet_map(base_name):
    props = {}
    for key, ref in FACET_KEYS[base_name].items():
        module_name, class_name = ref.split(".")
        cls = getattr(modules[module_name], class_name)
        props[key] = schema_of(cls)
    # A facet of another key must at least be a facet of the right kind.
    return {"type": "object", "properties": props, "additionalProperties": schema_of(getattr(base, base_name))}


def schema_of(tp):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return schema_of(options[0]) if len(options) == 1 else {"anyOf": [schema_of(a) for a in options]}
    if origin is list:
        return {"type": "array", "items": schema_of(args[0])}
    if origin is dict:
        value = args[1]
        if isinstance(value, type) and value.__name__ in FACET_KEYS and value.__module__.endswith(".base"):
            return facet_map(value.__name__)
        return {"type": "object", "additionalProperties": schema_of(value)}
    if tp is typing.Any:
        return {}
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if isinstance(tp, type) and issubclass(tp, Enum):
        return {"enum": [member.value for member in tp]}
    if attr.has(tp):
        name = def_name(tp)
        if name not in defs:
            defs[name] = {}  # recursion guard (SchemaDatasetFacetFields nests itself)
            defs[name] = class_schema(tp)
        return {"$ref": f"#/$defs/{name}"}
    raise SystemExit(f"no JSON Schema for {tp!r}")


# Fields the models fill themselves (init=False or with a default) that the spec requires.
ALWAYS_REQUIRED = {"_producer", "_schemaURL", "producer", "schemaURL", "eventTime"}
FORMATS = {"runId": "uuid", "eventTime": "date-time", "producer": "uri", "schemaURL": "uri", "_producer": "uri", "_schemaURL": "uri"}


def class_schema(cls):
    hints = typing.get_type_hints(cls)
    props, required = {}, []
    for field in attr.fields(cls):
        name = field.name
        # attrs strips the underscore of private fields for __init__ only; JSON keys keep it.
        schema = dict(schema_of(hints[name]))
        if name in FORMATS and schema.get("type") == "string":
            schema["format"] = FORMATS[name]
        props[name] = schema
        if field.default is attr.NOTHING or name in ALWAYS_REQUIRED:
            required.append(name)
    schema = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = required
    getter = getattr(cls, "_get_schema", None)
    if getter:
        schema["description"] = getter()
        # A concrete facet names its own schema: the URL must be the one the model carries.
        if "/facets/" in getter() and "_schemaURL" in props:
            props["_schemaURL"]["const"] = getter()
    return schema


run_event = schema_of(base.RunEvent)
document = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$comment": "Generated from openlineage-python's models by test/helpers/openlineage_models_schema.py",
    "$ref": run_event["$ref"],
    "$defs": defs,
}
with open(out, "w") as handle:
    json.dump(document, handle, indent=1, sort_keys=True)
print(json.dumps({"defs": len(defs), "facetKeys": {k: sorted(v) for k, v in FACET_KEYS.items()}}))
