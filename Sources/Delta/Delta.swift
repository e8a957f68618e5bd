// placeholder so the target builds; replaced by the Delta implementation
