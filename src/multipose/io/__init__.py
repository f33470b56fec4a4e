"""Reading and writing: COCO datasets and results, OpenPose JSON, images."""
