package lbhash

import "encoding/binary"

// murmurSeed is MurmurHash::STD_HASH_SEED, the seed libstdc++'s
// std::hash<std::string> uses.
const murmurSeed = 0xc70f6907

// murmurHash2 is the 64-bit MurmurHash2 of libstdc++'s _Hash_bytes, which
// Envoy's ring hash uses with hash_function MURMUR_HASH_2 (little-endian
// loads on every platform).
func murmurHash2(key []byte, seed uint64) uint64 {
	const mul = 0xc6a4a7935bd1e995
	n := uint64(len(key))
	h := seed ^ (n * mul)
	aligned := len(key) &^ 7
	for p := 0; p < aligned; p += 8 {
		data := shiftMix(binary.LittleEndian.Uint64(key[p:])*mul) * mul
		h ^= data
		h *= mul
	}
	if rem := key[aligned:]; len(rem) > 0 {
		var data uint64
		for i := len(rem) - 1; i >= 0; i-- {
			data = data<<8 + uint64(rem[i])
		}
		h ^= data
		h *= mul
	}
	h = shiftMix(h) * mul
	return shiftMix(h)
}

func shiftMix(v uint64) uint64 { return v ^ v>>47 }
