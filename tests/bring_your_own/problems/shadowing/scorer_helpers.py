ORIGIN = "the scorer's own folder"
