#include "textflag.h"

// func procyield()
TEXT ·procyield(SB),NOSPLIT|NOFRAME,$0-0
	PAUSE
	RET
