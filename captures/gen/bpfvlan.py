#!/usr/bin/env python3
"""Load a tiny tc (cls_bpf, direct-action) eBPF program and pin it.
usage: bpfvlan.py push VID PINPATH | bpfvlan.py pop PINPATH
push: bpf_skb_vlan_push(skb, htons(0x8100), VID)   pop: bpf_skb_vlan_pop(skb)"""
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_bpf = 321  # x86_64
def insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack('<BBhi', code, (src << 4) | dst, off, imm)
MOV64_K, CALL, EXIT = 0xb7, 0x85, 0x95
mode = sys.argv[1]
if mode == 'push':
    vid, path = int(sys.argv[2]), sys.argv[3]
    prog = insn(MOV64_K, 2, imm=0x0081) + insn(MOV64_K, 3, imm=vid) + insn(CALL, imm=18)
else:
    path = sys.argv[2]
    prog = insn(CALL, imm=19)
prog += insn(MOV64_K, 0, imm=0) + insn(EXIT)
buf = ctypes.create_string_buffer(prog)
lic = ctypes.create_string_buffer(b'GPL')
log = ctypes.create_string_buffer(65536)
attr = bytearray(128)
struct.pack_into('<IIQQIIQ', attr, 0, 3, len(prog) // 8, ctypes.addressof(buf),
                 ctypes.addressof(lic), 1, len(log), ctypes.addressof(log))
abuf = ctypes.create_string_buffer(bytes(attr), 128)
fd = libc.syscall(SYS_bpf, 5, abuf, 128)
if fd < 0:
    sys.exit('BPF_PROG_LOAD failed: %s\n%s' % (os.strerror(ctypes.get_errno()), log.value.decode()))
p = ctypes.create_string_buffer(path.encode())
attr = bytearray(128)
struct.pack_into('<QI', attr, 0, ctypes.addressof(p), fd)
abuf = ctypes.create_string_buffer(bytes(attr), 128)
if libc.syscall(SYS_bpf, 6, abuf, 128) < 0:
    sys.exit('BPF_OBJ_PIN failed: %s' % os.strerror(ctypes.get_errno()))
