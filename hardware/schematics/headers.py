"""Where each GPIO comes out on the development boards we ship, so a technician can find it by
counting header pins. Pin 1 of ESP32-DevKitC V4's J2 is 3V3 (next to EN), of J3 is GND (opposite);
Pico W pins count 1-20 down the left side from the USB end, then 21-40 up the right (Espressif
"ESP32-DevKitC V4 Getting Started Guide", Raspberry Pi "Pico W Datasheet" pinout)."""

DEVKITC_V4 = {
    36: "J2-3", 39: "J2-4", 34: "J2-5", 35: "J2-6", 32: "J2-7", 33: "J2-8", 25: "J2-9", 26: "J2-10",
    27: "J2-11", 14: "J2-12", 12: "J2-13", 13: "J2-15",
    23: "J3-2", 22: "J3-3", 1: "J3-4", 3: "J3-5", 21: "J3-6", 19: "J3-8", 18: "J3-9", 5: "J3-10",
    17: "J3-11", 16: "J3-12", 4: "J3-13", 0: "J3-14", 2: "J3-15", 15: "J3-16",
}
PICO_W = {
    0: "1", 1: "2", 2: "4", 3: "5", 4: "6", 5: "7", 6: "9", 7: "10", 8: "11", 9: "12", 10: "14",
    11: "15", 12: "16", 13: "17", 14: "19", 15: "20", 16: "21", 17: "22", 18: "24", 19: "25",
    20: "26", 21: "27", 22: "29", 26: "31", 27: "32", 28: "34",
}
HEADERS = {"esp32": DEVKITC_V4, "rp2040": PICO_W}
