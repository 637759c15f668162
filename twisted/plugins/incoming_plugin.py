from twisted.application.service import ServiceMaker

incoming = ServiceMaker(
    "Incoming!!",
    "incoming.tap",
    "Takes large file uploads off web applications.",
    "incoming",
)
