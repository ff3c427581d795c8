print("tm")
