// The server refuses with one shape, {code, reason} (fleet_server/api/refusals.py): the code is
// stable, the reason an English sentence with the particulars. The console says the refusal in the
// user's language by its code; English keeps the server's own sentence (it names the unit, the
// step, the state), and a code this table does not know shows the server's sentence in every
// language. tests/console/test_i18n_catalogue.py fails on a code the server can send that is not
// here. docs/i18n.md.
import { t, N_, currentLanguage } from "./i18n.js";

export const REFUSALS = {
  // the HTTP edge and the framework (by status)
  bad_request: N_("The request could not be read."),
  not_authenticated: N_("Not logged in: log in again."),
  wrong_credentials: N_("Wrong user name or password."),
  wrong_password: N_("The current password is wrong."),
  too_many_attempts: N_("Too many failed attempts: wait a moment and try again."),
  insufficient_role: N_("Your role may not do this."),
  not_found: N_("What was asked for does not exist (any more)."),
  method_not_allowed: N_("The server does not take this request here."),
  conflict: N_("The center's rules refuse this."),
  too_large: N_("The request is too large."),
  invalid_request: N_("A field is missing or not valid."),
  internal_error: N_("The server failed; the error is logged."),
  not_implemented: N_("This part is not installed on the server."),
  unavailable: N_("A part of the server is not running."),
  not_vendored: N_("A console file is missing on the server."),
  // incidents, triage and the non-emergency desk
  illegal_transition: N_("The incident cannot go to that state from the state it is in."),
  closed: N_("The incident is already closed."),
  bad_category: N_("That category is not one the center knows."),
  bad_agency: N_("That agency is not one the center knows."),
  bad_priority: N_("The priority must be 1 (most urgent) to 4."),
  reason_needed: N_("A reason is needed."),
  empty_note: N_("A note needs some text."),
  not_a_report: N_("Only a non-emergency report is handed off to another channel."),
  unknown_channel: N_("That hand-off channel is not known."),
  bad_channel_list: N_("The hand-off channels are set up wrongly: ask the administrator."),
  bad_reference: N_("A reference is 1 to 40 letters, digits or / . _ -"),
  not_expressible_as_cap: N_("The incident cannot be written as a CAP alert."),
  // call-taking and the caller's number
  bad_kind: N_("A call is an emergency or a non-emergency report."),
  text_needed: N_("Write what the caller said."),
  bad_location: N_("That way of locating the caller is not known."),
  location_needed: N_("The location is needed: pick it on the map or choose a known site."),
  site_needed: N_("The known site's name is needed."),
  bad_number: N_("That is not a phone number (3 to 15 digits)."),
  no_aml_fix: N_("No AML location has come from this number."),
  // run cards
  no_sop: N_("The incident has no run card."),
  bad_step: N_("That step is not on the incident's run card."),
  already_ticked: N_("This step is already ticked."),
  // forwards to stations
  not_installed: N_("Forwarding is not set up on this server."),
  bad_setting: N_("Forwarding is set up wrongly: ask the administrator."),
  no_station: N_("No station area holds this incident: the center keeps it."),
  unknown_station: N_("That station is not known here."),
  station_needed: N_("A station user needs a station."),
  not_your_station: N_("That belongs to another station."),
  already_forwarded: N_("The incident is already forwarded to a station."),
  incident_closed: N_("The incident is closed."),
  illegal_forward_step: N_("The forward cannot take that step in the state it is in."),
  no_child_station: N_("This is the last station of the chain: there is none below it."),
  not_a_child_station: N_("That station is not under this one."),
  bad_state: N_("That is not a forward state."),
  bad_window: N_("The start must be before the end."),
  // units, devices, users, releases
  units_not_running: N_("Unit tracking is not running."),
  no_position_store: N_("No position store is set up."),
  invalid_unit: N_("The unit's details are not valid."),
  no_broker_link: N_("The server has no link to the broker."),
  exists: N_("It exists already."),
  reserved_id: N_("That id is reserved."),
  not_editable: N_("That field cannot be changed."),
  own_account: N_("An administrator cannot do this to their own account."),
  campaign_refused: N_("The firmware rollout is refused."),
  // a message's or a value's check (protocols/rejection.py), as dispatch and registration use it
  bad_value: N_("Not accepted now: check the unit, the order and the incident's state."),
  unknown_device: N_("That device or unit is not registered."),
  identity_mismatch: N_("The sender is not the device the message names."),
  truncated: N_("The message is cut short."),
  oversize: N_("The message is too large."),
  not_utf8: N_("The message is not UTF-8 text."),
  not_json: N_("The message is not JSON."),
  not_object: N_("The message is not a JSON object."),
  unknown_version: N_("The message's version is not known."),
  unknown_type: N_("The message's type is not known."),
  missing_field: N_("The message lacks a field."),
  wrong_type: N_("A field of the message has the wrong type."),
  out_of_range: N_("A value is out of range."),
  bad_topic: N_("The topic is not one the server knows."),
  bad_hmac: N_("The message's signature does not match."),
  replayed: N_("The message was sent before (a replay)."),
  stale: N_("The message is too old."),
  bad_format: N_("The message's format cannot be read."),
  bad_checksum: N_("The message's checksum is wrong."),
};

// The sentence to show for a refusal body; `reason` is the server's.
export function refusalText(code, reason) {
  const known = Object.hasOwn(REFUSALS, code || "") ? REFUSALS[code] : null;
  return known && currentLanguage() !== "en" ? t(known) : reason;
}
