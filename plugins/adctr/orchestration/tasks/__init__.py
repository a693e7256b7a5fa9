"""Task bodies, one module per DAG (`daily`, `retrain`, `slot_sync`) plus what they share
(`common`): plain functions of plain values that call the library and turn its
`PermanentError`s into a failed task."""
