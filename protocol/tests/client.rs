//! The blocking client against a fake daemon (a real `SOCK_SEQPACKET` listener in a thread):
//! what it sends arrives exactly; garbage, silence and hang-ups become errors, never panics or
//! hangs (every read has a timeout).
#![cfg(feature = "std")]

mod common;

use std::time::{Duration, Instant};

use common::{frame, frame_packet, hello, hello_packet, After, FakeDaemon, DEADLINE};
use edge_infer_protocol::{
    encode_hello, Client, ClientError, DecodeErrorKind, Detections, Hello, Kind, MAX_MESSAGE_LEN,
};

fn connect(daemon: &FakeDaemon) -> Result<Client, ClientError> {
    Client::connect_with_timeout(daemon.path(), DEADLINE)
}

fn protocol_error(
    result: Result<impl std::fmt::Debug, ClientError>,
) -> edge_infer_protocol::DecodeError {
    match result {
        Err(ClientError::Protocol(e)) => e,
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn client_receives_exactly_what_the_daemon_sent() {
    let mut packets = vec![hello_packet()];
    packets.extend((0..4).map(frame_packet));
    let daemon = FakeDaemon::serve(packets, After::Close);

    let mut client = connect(&daemon).unwrap();
    assert_eq!(client.hello(), hello());
    for i in 0..4 {
        let (info, dets) = frame(i);
        let expected = Detections {
            frame: info,
            detections: dets.into_iter().collect(),
        };
        assert_eq!(client.next().unwrap(), expected, "message {i}");
    }
    assert!(matches!(client.next(), Err(ClientError::Closed)));
    assert!(daemon.finish().is_empty(), "the client must send nothing");
}

#[test]
fn garbage_after_the_hello_is_a_protocol_error() {
    let packets = vec![hello_packet(), b"this is not a message".to_vec()];
    let daemon = FakeDaemon::serve(packets, After::Hold(DEADLINE));
    let mut client = connect(&daemon).unwrap();
    let e = protocol_error(client.next());
    assert_eq!((e.offset, e.field), (0, "header.magic"));
    assert!(matches!(e.kind, DecodeErrorKind::BadMagic { .. }));
    let text = ClientError::Protocol(e).to_string();
    assert!(text.contains("at byte 0 (header.magic)"), "{text}");
    drop(client);
    assert!(daemon.finish().is_empty());
}

#[test]
fn garbage_instead_of_the_hello_fails_connect() {
    let daemon = FakeDaemon::serve(vec![vec![0xFF; 40]], After::Close);
    let e = protocol_error(connect(&daemon));
    assert_eq!(e.field, "header.magic");
}

#[test]
fn a_corrupt_detections_message_names_its_field() {
    let mut bad = frame_packet(2);
    bad[56 + 24 + 8..56 + 24 + 12].copy_from_slice(&f32::NAN.to_le_bytes());
    let daemon = FakeDaemon::serve(vec![hello_packet(), frame_packet(1), bad], After::Close);
    let mut client = connect(&daemon).unwrap();
    client.next().unwrap();
    let e = protocol_error(client.next());
    assert_eq!((e.offset, e.field), (88, "detection.x1"));
}

#[test]
fn messages_out_of_order_are_protocol_errors() {
    let daemon = FakeDaemon::serve(vec![frame_packet(0)], After::Close);
    let e = protocol_error(connect(&daemon));
    assert_eq!(
        e.kind,
        DecodeErrorKind::UnexpectedKind {
            found: Kind::Detections
        }
    );

    let daemon = FakeDaemon::serve(vec![hello_packet(), hello_packet()], After::Close);
    let mut client = connect(&daemon).unwrap();
    let e = protocol_error(client.next());
    assert_eq!(
        e.kind,
        DecodeErrorKind::UnexpectedKind { found: Kind::Hello }
    );
}

#[test]
fn detections_that_contradict_the_hello_are_protocol_errors() {
    let small = Hello {
        max_detections: 1,
        ..hello()
    };
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let len = encode_hello(&mut buf, &small).unwrap();
    let mut unknown_class = frame_packet(1);
    unknown_class[56..58].copy_from_slice(&7u16.to_le_bytes());
    let packets = vec![buf[..len].to_vec(), unknown_class, frame_packet(2)];
    let daemon = FakeDaemon::serve(packets, After::Close);
    let mut client = connect(&daemon).unwrap();

    let e = protocol_error(client.next());
    assert_eq!((e.offset, e.field), (56, "detection.class"));
    assert_eq!(
        e.kind,
        DecodeErrorKind::ClassOutOfRange {
            class: 7,
            class_count: 3
        }
    );
    let e = protocol_error(client.next());
    assert_eq!((e.offset, e.field), (52, "detections.count"));
    assert_eq!(e.kind, DecodeErrorKind::TooMany { count: 2, max: 1 });
}

#[test]
fn a_packet_longer_than_any_message_is_a_protocol_error() {
    let daemon = FakeDaemon::serve(
        vec![hello_packet(), vec![0u8; MAX_MESSAGE_LEN + 100]],
        After::Close,
    );
    let mut client = connect(&daemon).unwrap();
    let e = protocol_error(client.next());
    assert_eq!(
        e.kind,
        DecodeErrorKind::PacketTooLong {
            len: MAX_MESSAGE_LEN + 100
        }
    );
}

#[test]
fn a_silent_daemon_times_out() {
    let daemon = FakeDaemon::serve(vec![], After::Hold(Duration::from_secs(5)));
    let start = Instant::now();
    let result = Client::connect_with_timeout(daemon.path(), Duration::from_millis(200));
    assert!(matches!(result, Err(ClientError::Timeout)), "{result:?}");
    assert!(start.elapsed() < Duration::from_secs(3));

    let daemon = FakeDaemon::serve(vec![hello_packet()], After::Hold(Duration::from_secs(5)));
    let mut client = connect(&daemon).unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert!(matches!(client.next(), Err(ClientError::Timeout)));
    assert!(matches!(
        client.set_read_timeout(Some(Duration::ZERO)),
        Err(ClientError::Io(_))
    ));
}

#[test]
fn a_daemon_that_hangs_up_before_the_hello() {
    let daemon = FakeDaemon::serve(vec![], After::Close);
    assert!(matches!(connect(&daemon), Err(ClientError::Closed)));
}

#[test]
fn no_daemon_is_a_connect_error_naming_the_path() {
    let path = std::env::temp_dir().join("edgi-test-nobody-listens-here.sock");
    let e = Client::connect(&path).unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }));
    let text = e.to_string();
    assert!(
        text.contains("edgi-test-nobody-listens-here.sock"),
        "{text}"
    );
}
