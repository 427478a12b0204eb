{
  "targets": [
    {
      "target_name": "afpacket",
      "sources": [
        "src/addon.cc",
        "src/args.cc",
        "src/errno-error.cc",
        "src/packet-socket.cc",
        "src/netlink-socket.cc",
        "src/datagram-socket.cc",
        "src/hmac-sha256.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
