"""The experiment model: the experiment file, tomocupy's options, collection paths, time limits, the input-schema vocabulary and its validation."""
