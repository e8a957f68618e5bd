// placeholder so the target builds; replaced by the Signing implementation
