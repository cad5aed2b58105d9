"""Planning a run: a request becomes a RunPlan (parameters, axis, flow input), checked before anything starts."""
