"""Two small valid manifests that tests edit one field at a time."""

VERTEX = """\
apiVersion: reconciler/v1
kind: TunedModel
metadata:
  name: support-bot
  labels: {team: support}
spec:
  platform: vertex
  project: demo-project
  location: us-central1
  baseModel: gemini-2.5-flash
  displayName: Support bot
  training:
    dataset: gs://cloud-samples-data/ai-platform/generative_ai/gemini/text/sft_train_data.jsonl
  hyperParameters: {epochCount: 4, adapterSize: 4, learningRateMultiplier: 1.0}
"""

GEMINI = """\
apiVersion: reconciler/v1
kind: TunedModel
metadata:
  name: math-bot
spec:
  platform: gemini-api
  baseModel: models/gemini-1.5-flash-001-tuning
  displayName: math-bot
  temperature: 0.2
  training:
    examples:
      - {textInput: "2+2?", output: "4"}
      - {textInput: "3*3?", output: "9"}
  hyperParameters: {epochCount: 2, batchSize: 4, learningRate: 0.001}
"""
