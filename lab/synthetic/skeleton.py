"""A kinematic skeleton for synthetic people: named joints placed by a small dict of joint angles.

Body frame = the world frame of a person who faces -Y with the pelvis on the Z axis (metres,
Z up); the person's left is +X. Lengths are fractions of the stature (adult averages), so a
phenotype is a stature, a build and a sex. A pose is a dict of angles in degrees; any angle
left out is 0, which is standing straight with the arms hanging and the feet flat, pointing
forward (-Y). Per side, the key ends in `_l` or `_r`; a key without it applies to both sides:

    shoulder_flex   upper arm raised forward from hanging (90: pointing forward)
    shoulder_abduct upper arm raised sideways (90: horizontal, out to the side)
    arm_twist       turns the elbow's bending plane: 0 bends the forearm forward, + toward the body's midline
    elbow_flex      0 straight; 90 forearm at a right angle to the upper arm
    hip_flex        thigh raised forward (90: horizontal); negative swings it back
    hip_abduct      thigh out to the side
    knee_flex       0 straight; the shin folds back
    ankle_flex      plantar flexion: toes down (heel up)
    yaw             the whole body turned about the vertical axis through the pelvis; + turns the
                    front from -Y toward +X (counter-clockwise seen from above)
    lean            the trunk pitched forward at the pelvis

`joint_positions` gives the joints with the soles resting on z = 0 (the lowest heel or toe);
the person's `airborne_m` (the jump) lifts them off it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIDES = {"l": 1.0, "r": -1.0}  # the person's left is +X
JOINTS = ("pelvis", "waist", "chest", "neck", "head", "head_top",
          *(f"{j}_{s}" for j in ("shoulder", "elbow", "wrist", "hand", "hip", "knee", "ankle", "heel", "toe")
            for s in SIDES))

# Segment lengths and heights as fractions of the stature (after Drillis & Contini's proportions).
HIP_Z, THIGH, SHIN, ANKLE_Z = 0.530, 0.245, 0.246, 0.039
UPPER_ARM, FOREARM, HAND = 0.186, 0.146, 0.108
FOOT = 0.152  # heel to toe
HEEL_BACK = 0.2  # of the foot's length behind the ankle
PELVIS_ABOVE_HIPS, WAIST, CHEST, NECK, SHOULDER_Z, HEAD = 0.02, 0.09, 0.19, 0.29, 0.27, 0.385


@dataclass(frozen=True)
class Phenotype:
    """Stature (barefoot, metres), build (girth factor: 0.85 slim, 1 average, 1.25 heavy), sex."""

    stature_m: float = 1.75
    build: float = 1.0
    sex: str = "male"  # "male": broader shoulders; "female": broader hips, a bust

    @property
    def shoulder_half_width(self) -> float:
        return (0.115 if self.sex == "male" else 0.104) * self.stature_m

    @property
    def hip_half_width(self) -> float:
        return (0.050 if self.sex == "male" else 0.056) * self.stature_m * self.build ** 0.5


@dataclass(frozen=True)
class Pose:
    name: str
    angles: dict
    airborne_m: float = 0.0  # the soles' lowest point above the floor (a jump)
    hand_on_thigh: str = ""  # "l" or "r": that hand rests on the front of the same side's thigh

    def angle(self, key: str, side: str = "") -> float:
        return float(self.angles.get(f"{key}_{side}", self.angles.get(key, 0.0))) if side else \
            float(self.angles.get(key, 0.0))


POSES = {p.name: p for p in (
    Pose("standing", {"shoulder_abduct": 9, "elbow_flex": 8}),
    Pose("a_pose", {"shoulder_abduct": 45, "elbow_flex": 5}),
    # Double support: the front heel and the back toe on the floor.
    Pose("walking", {"hip_flex_l": 20, "knee_flex_l": 3, "ankle_flex_l": 5,
                     "hip_flex_r": -20, "knee_flex_r": 30, "ankle_flex_r": 5,
                     "shoulder_flex_l": -18, "shoulder_flex_r": 20, "shoulder_abduct": 8, "elbow_flex": 15}),
    Pose("arms_crossed", {"shoulder_flex": 32, "shoulder_abduct": 8, "arm_twist": 75,
                          "elbow_flex_l": 112, "elbow_flex_r": 98}),
    Pose("hands_on_hips", {"shoulder_abduct": 42, "shoulder_flex": -12, "arm_twist": 95, "elbow_flex": 105}),
    # The left hand rests on top of the raised left thigh (angles solved for it).
    Pose("knee_raised", {"hip_flex_l": 80, "knee_flex_l": 85, "ankle_flex_l": 25,
                         "shoulder_flex_l": -5, "shoulder_abduct_l": 8, "elbow_flex_l": 74, "arm_twist_l": 27,
                         "shoulder_abduct_r": 9, "elbow_flex_r": 8}, hand_on_thigh="l"),
    Pose("jumping", {"hip_flex": 45, "knee_flex": 115, "ankle_flex": 35, "lean": 8,
                     "shoulder_flex": 35, "shoulder_abduct": 20, "elbow_flex": 60}, airborne_m=0.3),
    Pose("turned_30", {"shoulder_abduct": 9, "elbow_flex": 8, "yaw": 30}),
)}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def limb_direction(flex_deg: float, abduct_deg: float, side: float) -> np.ndarray:
    """Unit direction of a limb hanging straight down, raised `flex` forward then `abduct` outward."""
    f, a = np.radians(flex_deg), np.radians(abduct_deg)
    return np.cos(a) * np.array([0.0, -np.sin(f), -np.cos(f)]) + np.sin(a) * np.array([side, 0.0, 0.0])


def _rotate_about(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues' rotation of v about the unit `axis`."""
    return v * np.cos(angle) + np.cross(axis, v) * np.sin(angle) + axis * (axis @ v) * (1 - np.cos(angle))


def forearm_direction(upper: np.ndarray, twist_deg: float, elbow_deg: float, side: float) -> np.ndarray:
    """The forearm's direction: the upper arm's, bent by the elbow toward a direction that is
    forward (-Y) for no twist and turns toward the body's midline as the twist grows."""
    forward = np.array([0.0, -1.0, 0.0])
    bend = forward - upper * (upper @ forward)
    if np.linalg.norm(bend) < 1e-6:  # arm pointing straight forward: bend upward
        bend = np.array([0.0, 0.0, 1.0]) - upper * upper[2]
    bend = _unit(bend)
    # Of the two turning senses, the one that brings the bend toward -side (the midline).
    sense = 1.0 if np.cross(upper, bend)[0] * -side >= 0 else -1.0
    bend = _rotate_about(bend, upper, sense * np.radians(twist_deg))
    e = np.radians(elbow_deg)
    return np.cos(e) * upper + np.sin(e) * bend


def trunk_rotation(lean_deg: float) -> np.ndarray:
    """Rotation of the trunk about the X axis at the pelvis, tipping it forward (toward -Y)."""
    a = np.radians(lean_deg)
    return np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]])


def yaw_rotation(yaw_deg: float) -> np.ndarray:
    a = np.radians(yaw_deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def joint_positions(ph: Phenotype, pose: Pose) -> dict[str, np.ndarray]:
    """Every joint of JOINTS in the body frame, before the pose's yaw, soles on z = 0 (+ airborne_m).

    The heel and toe are on the sole: the foot's lowest points. The hand is the fingertips' end.
    """
    h = ph.stature_m
    pelvis = np.array([0.0, 0.0, (HIP_Z + PELVIS_ABOVE_HIPS) * h])
    trunk = trunk_rotation(pose.angle("lean"))

    def on_trunk(local):
        return pelvis + trunk @ (np.asarray(local, float) * h)

    j = {"pelvis": pelvis, "waist": on_trunk([0, 0, WAIST]), "chest": on_trunk([0, 0, CHEST]),
         "neck": on_trunk([0, 0, NECK]), "head": on_trunk([0, -0.004, HEAD]),
         "head_top": on_trunk([0, -0.004, HEAD + 0.066])}
    for s, sign in SIDES.items():
        shoulder = on_trunk([sign * ph.shoulder_half_width / h, 0.0, SHOULDER_Z])
        upper = trunk @ limb_direction(pose.angle("shoulder_flex", s), pose.angle("shoulder_abduct", s), sign)
        elbow = shoulder + upper * UPPER_ARM * h
        fore = forearm_direction(upper, pose.angle("arm_twist", s), pose.angle("elbow_flex", s), sign)
        wrist = elbow + fore * FOREARM * h
        j |= {f"shoulder_{s}": shoulder, f"elbow_{s}": elbow, f"wrist_{s}": wrist,
              f"hand_{s}": wrist + fore * HAND * h}

        hip = np.array([sign * ph.hip_half_width, 0.0, HIP_Z * h])
        flex, abduct = pose.angle("hip_flex", s), pose.angle("hip_abduct", s)
        knee = hip + limb_direction(flex, abduct, sign) * THIGH * h
        shin_angle = flex - pose.angle("knee_flex", s)
        ankle = knee + limb_direction(shin_angle, abduct, sign) * SHIN * h
        # The foot is at right angles to the shin, toes forward, turned down by plantar flexion.
        foot_angle = shin_angle + 90.0 - pose.angle("ankle_flex", s)
        toward_toes = limb_direction(foot_angle, 0.0, sign)
        sole_down = limb_direction(foot_angle - 90.0, 0.0, sign)  # from the ankle down to the sole
        sole = ankle + sole_down * ANKLE_Z * h
        j |= {f"hip_{s}": hip, f"knee_{s}": knee, f"ankle_{s}": ankle,
              f"heel_{s}": sole - toward_toes * HEEL_BACK * FOOT * h,
              f"toe_{s}": sole + toward_toes * (1 - HEEL_BACK) * FOOT * h}

    lowest = min(j[f"{k}_{s}"][2] for k in ("heel", "toe") for s in SIDES)
    lift = np.array([0.0, 0.0, pose.airborne_m - lowest])
    return {k: j[k] + lift for k in JOINTS}
