"""Photo intake: load and validate the photo, find the person, crop to the working square."""

from backend.intake.crop import WorkingImage, background_colour, crop_to_working, mask_to_original
from backend.intake.photo import MAX_PIXELS, MAX_SIDE_PX, MIN_SIDE_PX, Photo, load_photo
from backend.intake.segment import METHODS, Segmentation, segment_person

__all__ = [
    "MAX_PIXELS",
    "MAX_SIDE_PX",
    "METHODS",
    "MIN_SIDE_PX",
    "Photo",
    "Segmentation",
    "WorkingImage",
    "background_colour",
    "crop_to_working",
    "load_photo",
    "mask_to_original",
    "segment_person",
]
