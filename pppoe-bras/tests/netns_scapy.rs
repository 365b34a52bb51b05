//! An independent client: scapy (Debian's python3-scapy) plays the CPE step
//! by step against the real daemon, without any of our wire code, so our
//! encoders are checked by somebody else's parsers and builders.
//!
//! - discovery: PADI → PADO (AC-Name, Service-Name, AC-Cookie, Host-Uniq
//!   echoed) → PADR with the cookie → PADS with a non-zero session id;
//! - LCP: a Configure-Request with MRU 1454, a Magic-Number and an unknown
//!   option gets a Configure-Reject echoing that option byte for byte; the
//!   request without it is acknowledged; we acknowledge the BRAS's request;
//! - PAP: the right password gets Authenticate-Ack, a wrong one
//!   Authenticate-Nak "authentication failed".
//!
//! The script prints `OK <step> ...` lines and exits non-zero on the first
//! deviation (every wait has a timeout).
mod common;

use common::*;

const CLIENT_PY: &str = r#"
import sys, time
from scapy.all import Ether, Raw, sendp, AsyncSniffer, get_if_hwaddr
from scapy.layers.ppp import (PPPoED, PPPoE, PPPoED_Tags, PPPoETag, PPP_LCP_Configure,
    PPP_LCP_MRU_Option, PPP_LCP_Magic_Number_Option, PPP_LCP_Option, PPP_PAP_Request)

iface, user, password, expect = sys.argv[1:5]
me = get_if_hwaddr(iface)
got = []
sniffer = AsyncSniffer(iface=iface, prn=got.append, store=False,
    lfilter=lambda p: Ether in p and p[Ether].type in (0x8863, 0x8864) and p[Ether].src != me)
sniffer.start()
time.sleep(0.5)

def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)

def wait(what, pred, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        for p in list(got):
            if pred(p):
                return p
        time.sleep(0.02)
    fail("timeout waiting for " + what)

def tags(p):
    return {t.tag_type: t.tag_value for t in p[PPPoED_Tags].tag_list}

# --- discovery -------------------------------------------------------------
hu = b"\xde\xad\xbe\xef"
base = [PPPoETag(tag_type=0x0101, tag_value=b""), PPPoETag(tag_type=0x0103, tag_value=hu)]
sendp(Ether(dst="ff:ff:ff:ff:ff:ff", src=me, type=0x8863) / PPPoED(code=0x09, sessionid=0)
      / PPPoED_Tags(tag_list=base), iface=iface, verbose=False)
pado = wait("PADO", lambda p: PPPoED in p and p[PPPoED].code == 0x07)
t = tags(pado)
if pado[PPPoED].sessionid != 0: fail("PADO session id not 0")
if 0x0102 not in t or not t[0x0102]: fail("PADO without AC-Name")
if 0x0101 not in t: fail("PADO without Service-Name")
if len(t.get(0x0104, b"")) == 0: fail("PADO without AC-Cookie")
if t.get(0x0103) != hu: fail("Host-Uniq not echoed")
ac = pado[Ether].src
print(f"OK PADO ac_name={t[0x0102].decode()} cookie_len={len(t[0x0104])}", flush=True)
sendp(Ether(dst=ac, src=me, type=0x8863) / PPPoED(code=0x19, sessionid=0)
      / PPPoED_Tags(tag_list=base + [PPPoETag(tag_type=0x0104, tag_value=t[0x0104])]),
      iface=iface, verbose=False)
pads = wait("PADS", lambda p: PPPoED in p and p[PPPoED].code == 0x65)
sid = pads[PPPoED].sessionid
if sid == 0: fail("PADS session id 0: " + repr(tags(pads)))
if tags(pads).get(0x0103) != hu: fail("Host-Uniq not echoed in PADS")
print(f"OK PADS session={sid:#06x}", flush=True)

# --- LCP -------------------------------------------------------------------
def ppp(p, proto):
    if PPPoE not in p or p[PPPoE].sessionid != sid:
        return None
    raw = bytes(p[PPPoE].payload)[: p[PPPoE].len]
    if raw[:2] != proto:
        return None
    return raw[2:]

def send_ppp(proto, body):
    sendp(Ether(dst=ac, src=me, type=0x8864) / PPPoE(sessionid=sid) / Raw(proto + body),
          iface=iface, verbose=False)

LCP, PAP = b"\xc0\x21", b"\xc0\x23"
bras_req = wait("BRAS LCP Configure-Request", lambda p: (ppp(p, LCP) or b"\0")[0] == 1)
bras_req = ppp(bras_req, LCP)
unknown = PPP_LCP_Option(type=0x42, data=b"\xaa\xbb")
opts = [PPP_LCP_MRU_Option(max_recv_unit=1454), PPP_LCP_Magic_Number_Option(magic_number=0x11223344)]
send_ppp(LCP, bytes(PPP_LCP_Configure(code=1, id=0x33, options=opts + [unknown])))
rej = ppp(wait("Configure-Reject", lambda p: (ppp(p, LCP) or b"\0")[:2] == b"\x04\x33"), LCP)
if rej[4:] != bytes(unknown): fail(f"Configure-Reject {rej.hex()} != option {bytes(unknown).hex()}")
print(f"OK LCP Configure-Reject echoes {bytes(unknown).hex()}", flush=True)
req = bytes(PPP_LCP_Configure(code=1, id=0x34, options=opts))
send_ppp(LCP, req)
ack = ppp(wait("Configure-Ack", lambda p: (ppp(p, LCP) or b"\0")[:2] == b"\x02\x34"), LCP)
if ack[4:] != req[4:]: fail(f"Configure-Ack {ack.hex()} differs from request {req.hex()}")
print("OK LCP Configure-Ack MRU 1454", flush=True)
if b"\x03\x04\xc0\x23" not in bras_req: fail("BRAS does not ask for PAP: " + bras_req.hex())
send_ppp(LCP, b"\x02" + bras_req[1:])
print(f"OK LCP opened bras_request={bras_req.hex()}", flush=True)

# --- PAP -------------------------------------------------------------------
send_ppp(PAP, bytes(PPP_PAP_Request(id=7, username=user.encode(), password=password.encode())))
reply = ppp(wait("PAP reply", lambda p: (ppp(p, PAP) or b"\0\0")[1] == 7 and (ppp(p, PAP) or b"\0")[0] in (2, 3)), PAP)
msg = reply[5:5 + reply[4]].decode(errors="replace")
verdict = {2: "ack", 3: "nak"}[reply[0]]
if verdict != expect: fail(f"PAP {verdict} message={msg!r}, expected {expect}")
print(f"OK PAP {verdict} message={msg!r}", flush=True)
if verdict == "ack":
    # Hang up like a client: PADT.
    sendp(Ether(dst=ac, src=me, type=0x8863) / PPPoED(code=0xa7, sessionid=sid), iface=iface, verbose=False)
else:
    wait("PADT after the Nak", lambda p: PPPoED in p and p[PPPoED].code == 0xa7 and p[PPPoED].sessionid == sid, 10)
    print("OK PADT after failed authentication", flush=True)
sniffer.stop()
"#;

/// Run the scapy client once; returns its stdout lines.
fn scapy_client(lab: &lab::Lab, user: &str, password: &str, expect: &str) -> Vec<String> {
    let out = lab
        .exec(
            lab.ns_cpe(),
            &[
                python(),
                "-c",
                CLIENT_PY,
                lab.cpe_if(),
                user,
                password,
                expect,
            ],
        )
        .expect("run scapy");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "scapy client failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().map(str::to_owned).collect()
}

#[test]
fn scapy_client_discovery_lcp_and_pap() {
    if !root_or_skip("scapy_client") {
        return;
    }
    let lab = new_lab();
    let mut opts = classic(&lab, "");
    opts.auth = "pap".to_owned();
    let bras = start_bras(&lab, &opts);
    let cap = lab
        .tcpdump(lab.ns_cpe(), lab.cpe_if(), &scratch(&lab, "scapy.pcap"))
        .expect("tcpdump");

    let ok = scapy_client(&lab, "testuser2", "password", "ack");
    let want = [
        "OK PADO ac_name=",
        "OK PADS session=",
        "OK LCP Configure-Reject echoes 4204aabb",
        "OK LCP Configure-Ack MRU 1454",
        "OK LCP opened",
        "OK PAP ack",
    ];
    for w in want {
        assert!(
            ok.iter().any(|l| l.starts_with(w)),
            "{w:?} missing: {ok:#?}"
        );
    }
    assert!(
        bras.wait_stderr(
            |l| l.contains("auth ok user=testuser2"),
            std::time::Duration::from_secs(5)
        )
        .expect("wait")
        .is_some(),
        "{}",
        bras.tail(20)
    );

    let bad = scapy_client(&lab, "testuser2", "wrong", "nak");
    assert!(
        bad.iter()
            .any(|l| l == "OK PAP nak message='authentication failed'"),
        "{bad:#?}"
    );
    assert!(bad.iter().any(|l| l.starts_with("OK PADT")), "{bad:#?}");

    let file = cap.stop().expect("stop tcpdump");
    let d = lab::tshark_check(&file).expect("tshark");
    assert_eq!(d.malformed, 0, "{:#?}", d.summaries());
}
