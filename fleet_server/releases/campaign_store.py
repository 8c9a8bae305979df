"""Campaigns and each device's progress in the database (tables ota_campaigns and
ota_campaign_devices), plus the device registry queries a campaign needs. The engine
(campaigns.py) reaches storage only through CampaignStore."""
from __future__ import annotations

import json

from sqlalchemy import select

from fleet_server.storage import audit as audit_repo
from fleet_server.storage.models import Device, OtaCampaign, OtaCampaignDevice


def campaign_dict(c: OtaCampaign) -> dict:
    return {"id": c.id, "version": c.version, "kind": c.kind, "target": json.loads(c.target),
            "steps": json.loads(c.steps), "trial_s": c.trial_s, "gate_s": c.gate_s, "state": c.state,
            "wave": c.wave, "wave_started": c.wave_started, "halted_why": c.halted_why,
            "created_by": c.created_by, "created_at": c.created_at, "updated_at": c.updated_at}


def device_dict(d: OtaCampaignDevice) -> dict:
    return {"device": d.device_id, "wave": d.wave, "state": d.state, "why": d.why, "fw_from": d.fw_from,
            "updated_at": d.updated_at}


class CampaignStore:
    def __init__(self, db):
        self.db = db

    def targets(self, kind: str, site: str | None, agency: str | None, devices: list[str] | None,
                board: str | None = None) -> list[dict]:
        with self.db.session() as s:
            q = select(Device).where(Device.kind == kind, Device.active.is_(True)).order_by(Device.id)
            if board:
                q = q.where(Device.board == board)
            if site:
                q = q.where(Device.site == site)
            if agency:
                q = q.where(Device.agency == agency)
            if devices:
                q = q.where(Device.id.in_(devices))
            return [{"id": d.id, "firmware": d.firmware, "board": d.board} for d in s.scalars(q)]

    def boards(self, ids: list[str]) -> dict[str, str | None]:
        """device id -> its registered board (None: not known)."""
        with self.db.session() as s:
            return {d.id: d.board for d in s.scalars(select(Device).where(Device.id.in_(ids)))} if ids else {}

    def health(self, ids: list[str]) -> dict[str, dict]:
        with self.db.session() as s:
            rows = s.scalars(select(Device).where(Device.id.in_(ids))) if ids else []
            return {d.id: {"firmware": d.firmware, "outbox": d.outbox, "last_seen": d.last_seen,
                           "status": d.status} for d in rows}

    def create(self, c: dict, devices: list[dict], actor: str, at: float) -> int:
        with self.db.session() as s:
            row = OtaCampaign(version=c["version"], kind=c["kind"], target=json.dumps(c["target"], sort_keys=True),
                              steps=json.dumps(c["steps"]), trial_s=c["trial_s"], gate_s=c["gate_s"],
                              state="running", wave=0, wave_started=at, created_by=actor, created_at=at,
                              updated_at=at)
            s.add(row)
            s.flush()
            for d in devices:
                s.add(OtaCampaignDevice(campaign_id=row.id, device_id=d["id"], wave=d["wave"], state="waiting",
                                        fw_from=d.get("firmware"), updated_at=at))
            audit_repo.append(s, at, actor, "create", "campaign", row.id, to_value=c["version"],
                              detail=json.dumps({"target": c["target"], "steps": c["steps"], "devices": len(devices),
                                                 "not_offered": c.get("not_offered", {})}))
            return row.id

    def running(self) -> list[dict]:
        with self.db.session() as s:
            return [campaign_dict(c) for c in s.scalars(select(OtaCampaign).where(OtaCampaign.state == "running"))]

    def listing(self) -> list[dict]:
        with self.db.session() as s:
            return [campaign_dict(c) for c in s.scalars(select(OtaCampaign).order_by(OtaCampaign.id.desc()))]

    def get(self, cid: int) -> dict | None:
        with self.db.session() as s:
            c = s.get(OtaCampaign, cid)
            if c is None:
                return None
            out = campaign_dict(c)
            out["devices"] = [device_dict(d) for d in s.scalars(
                select(OtaCampaignDevice).where(OtaCampaignDevice.campaign_id == cid).order_by(
                    OtaCampaignDevice.wave, OtaCampaignDevice.device_id))]
            return out

    def devices(self, cid: int, wave: int | None = None) -> list[dict]:
        with self.db.session() as s:
            q = select(OtaCampaignDevice).where(OtaCampaignDevice.campaign_id == cid)
            if wave is not None:
                q = q.where(OtaCampaignDevice.wave == wave)
            return [device_dict(d) for d in s.scalars(q.order_by(OtaCampaignDevice.device_id))]

    def running_for(self, device_id: str, version: str) -> int | None:
        with self.db.session() as s:
            return s.scalar(select(OtaCampaign.id).join(
                OtaCampaignDevice, OtaCampaignDevice.campaign_id == OtaCampaign.id).where(
                OtaCampaignDevice.device_id == device_id, OtaCampaign.version == version,
                OtaCampaign.state.in_(("running", "halted"))).order_by(OtaCampaign.id.desc()).limit(1))

    def set_device(self, cid: int, device_id: str, state: str, why: str | None, at: float) -> str | None:
        """The device's new state; audited. Returns the state it had (None: not in the campaign)."""
        with self.db.session() as s:
            d = s.get(OtaCampaignDevice, (cid, device_id))
            if d is None:
                return None
            was = d.state
            if was != state:
                d.state, d.why, d.updated_at = state, (why or None) and why[:120], at
                audit_repo.append(s, at, "device:" + device_id, "ota_" + state, "campaign", cid, from_value=was,
                                  to_value=state, detail=why)
            return was

    def update(self, cid: int, actor: str, action: str, at: float, detail: str | None = None, **fields) -> None:
        with self.db.session() as s:
            c = s.get(OtaCampaign, cid)
            was = c.state
            for k, v in fields.items():
                setattr(c, k, v)
            c.updated_at = at
            audit_repo.append(s, at, actor, action, "campaign", cid, from_value=was, to_value=c.state, detail=detail)
