{
  "targets": [
    {
      "target_name": "lvsd_native",
      "sources": [
        "src/addon.cc",
        "src/packet_socket.cc",
        "src/raw_ip.cc",
        "src/util.cc",
        "src/netlink.cc",
        "src/signal.cc",
        "src/nfqueue.cc",
        "src/bpf.cc"
      ],
      "include_dirs": ["<!(node -p \"require('path').dirname(require.resolve('node-addon-api/package.json'))\")"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"]
    }
  ]
}
