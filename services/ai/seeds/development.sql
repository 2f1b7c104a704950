-- A model with its dataset, one finished training run, its evaluation and the deployment that
-- serves it, owned by alice (auth's development seeds). Predictions are left out: their ids are
-- generated, so a second run of this file could not tell its rows from new ones.
INSERT INTO ai.models (id, name, provider, version, status, parameters) VALUES
    ('00000000-0000-4000-8000-000000000601', 'lead-scoring', 'inopsio', '1.0.0', 'ready',
     '{"threshold": 0.7}')
ON CONFLICT DO NOTHING;

INSERT INTO ai.datasets (id, name, version, description, source_uri, format, row_count, owner_id) VALUES
    ('00000000-0000-4000-8000-000000000611', 'crm-leads', '2024-04', 'Leads and their outcomes',
     'file:///datasets/crm-leads-2024-04.jsonl', 'jsonl', 1200,
     '00000000-0000-4000-8000-000000000002')
ON CONFLICT DO NOTHING;

INSERT INTO ai.training_runs
    (id, model_id, dataset_id, triggered_by, status, hyperparameters, metrics, started_at, finished_at)
VALUES
    ('00000000-0000-4000-8000-000000000621', '00000000-0000-4000-8000-000000000601',
     '00000000-0000-4000-8000-000000000611', '00000000-0000-4000-8000-000000000002', 'succeeded',
     '{"epochs": 20}', '{"auc": 0.91}', '2024-04-15 09:00:00+00', '2024-04-15 09:42:00+00')
ON CONFLICT DO NOTHING;

INSERT INTO ai.evaluations (training_run_id, dataset_id, metric, value) VALUES
    ('00000000-0000-4000-8000-000000000621', '00000000-0000-4000-8000-000000000611', 'auc', 0.91)
ON CONFLICT DO NOTHING;

INSERT INTO ai.deployments
    (id, model_id, training_run_id, environment, status, endpoint_url, deployed_by, deployed_at)
VALUES
    ('00000000-0000-4000-8000-000000000631', '00000000-0000-4000-8000-000000000601',
     '00000000-0000-4000-8000-000000000621', 'development', 'active',
     'http://localhost:8600/models/lead-scoring', '00000000-0000-4000-8000-000000000002',
     '2024-04-15 10:00:00+00')
ON CONFLICT DO NOTHING;
